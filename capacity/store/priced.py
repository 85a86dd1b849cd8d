"""The quantities the cost rule prices, by price key: container allocations, and what nodes of
each key offered and left idle. Collectors store these, never money; ``capacity.costing``
prices them with the configuration of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, select, true
from sqlalchemy.sql.elements import ColumnElement

from capacity.records import PriceKey
from capacity.store import schema as m
from capacity.store.grains import NS, SNAP, Exprs, Grain, table_of

CA = table_of(m.ContainerAllocation)
AR = table_of(m.AllocationRollup)
NPR = table_of(m.NodePriceRollup)
CPR = table_of(m.ClusterPriceRollup)
PK = table_of(m.PriceKeyRow)


def _allocation_exprs() -> Exprs:
    seconds = SNAP.c.interval_seconds
    return {
        "cpu_allocated_cs": CA.c.cpu_allocated * seconds,
        "memory_allocated_bs": CA.c.memory_allocated * seconds,
        "gpu_allocated_s": CA.c.gpu_allocated * seconds,
    }


def _priced_node_exprs() -> Exprs:
    seconds = SNAP.c.interval_seconds

    def idle(capacity: ColumnElement[Any], taken: ColumnElement[Any]) -> ColumnElement[Any]:
        # Per node and per sample: an overcommitted node has no idle, never a negative one.
        return case((capacity > taken, (capacity - taken) * seconds), else_=0.0)

    return {
        "seconds": seconds,
        "cpu_capacity_cs": NS.c.cpu_capacity * seconds,
        "memory_capacity_bs": NS.c.memory_capacity * seconds,
        "gpu_capacity_s": NS.c.gpu_capacity * seconds,
        "cpu_idle_cs": idle(NS.c.cpu_capacity, NS.c.cpu_allocated),
        "memory_idle_bs": idle(NS.c.memory_capacity, NS.c.memory_allocated),
        "gpu_idle_s": idle(NS.c.gpu_capacity, NS.c.gpu_requested),
    }


_KEYED = NS.c.price_key_id.is_not(None)  # node samples written before price keys have none
ALLOCATIONS = Grain(CA, AR, ("workload_id", "container", "price_key_id"), _allocation_exprs(), true(), False)
NODE_PRICES = Grain(NS, NPR, ("node_id", "price_key_id"), _priced_node_exprs(), true(), False, _KEYED)
CLUSTER_PRICES = Grain(NS, CPR, ("price_key_id",), _priced_node_exprs(), true(), False, _KEYED)
PRICED_GRAINS = (ALLOCATIONS, NODE_PRICES, CLUSTER_PRICES)
ALLOCATION_COLUMNS: tuple[str, ...] = tuple(ALLOCATIONS.exprs)
PRICED_NODE_COLUMNS: tuple[str, ...] = tuple(NODE_PRICES.exprs)


def _key(row: Any) -> PriceKey:
    return PriceKey(
        instance_type=row.instance_type,
        capacity_type=row.capacity_type,
        region=row.region,
        override_hourly=row.override_hourly,
        cpu=float(row.cpu_capacity),
        memory=float(row.memory_capacity),
        gpu=float(row.gpu_capacity),
    )


def price_keys(conn: Connection, ids: Sequence[int] | None = None) -> dict[int, PriceKey]:
    """Return the price key of each id in ``ids`` (ids not in the store are left out; None: every key)."""
    if ids is None:
        return {int(row.id): _key(row) for row in conn.execute(select(PK))}
    found: dict[int, PriceKey] = {}
    wanted = sorted({int(i) for i in ids})
    for start in range(0, len(wanted), 500):  # SQLite caps bound parameters per statement
        for row in conn.execute(select(PK).where(PK.c.id.in_(wanted[start : start + 500]))):
            found[int(row.id)] = _key(row)
    return found
