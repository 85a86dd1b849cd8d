"""The quantities the cost rule prices, by price key: container allocations, and what nodes of
each key offered and left idle. Collectors store these, never money; ``capacity.costing``
prices them with the configuration of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Double, Integer, case, func, select, true, values
from sqlalchemy import column as sql_column
from sqlalchemy.sql.elements import ColumnElement

from capacity.records import PriceKey
from capacity.store import schema as m
from capacity.store.buckets import Range, utc
from capacity.store.grains import NS, SNAP, Exprs, Grain, aggregate, table_of

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


UnitPrices = Mapping[int, tuple[float, ...]]  # price key id -> unit prices, in ``units`` order
Money = Sequence[tuple[str, str, str]]  # (quantity, unit price, money column): capacity.costing


def priced_periods(
    conn: Connection,
    grain: Grain,
    *,
    periods: Sequence[Range],
    clusters: tuple[str, ...],
    epoch_of: Callable[[datetime], int],
    prices: Sequence[UnitPrices],
    units: Sequence[str],
    money: Money,
) -> pd.DataFrame:
    """Return the money of a priced grain's quantities per period, cluster and grain key but the
    price key, summed in the database: each quantity times its unit price at the key and the
    epoch of the period (``epoch_of(period start)`` indexes ``prices``), over 3600.

    Columns: ``period_start``, ``cluster``, ``cluster_id``, the grain's other keys, the money
    columns. A stored price key without a price raises ValueError.
    """
    from capacity.store.windows import _driver_rows, _frame, _in_periods, _scopes, _window_sources

    by = [k for k in grain.keys if k != "price_key_id"]
    outs = [column for _, _, column in money]
    columns = ["period_start", "cluster", "cluster_id", *by, *outs]
    unit_rows = [
        (e, int(k), *map(float, unit)) for e, table in enumerate(prices) for k, unit in table.items()
    ]
    cluster_table = table_of(m.Cluster)

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        sources, _ = _window_sources(grain, _scopes(conn, part, *window, clusters))
        if not sources or not unit_rows:
            return pd.DataFrame(columns=columns)
        totals = aggregate(grain, sources, bucketed=True).subquery("totals")
        epochs = (
            values(sql_column("label", Integer()), sql_column("epoch", Integer()), name="label_epochs")
            .data([(label, epoch_of(lo)) for label, (lo, _) in enumerate(part)])
            .cte("label_epochs")
        )
        unit = (
            values(
                sql_column("epoch", Integer()),
                sql_column("price_key_id", Integer()),
                *(sql_column(u, Double()) for u in units),
                name="unit_prices",
            )
            .data(unit_rows)
            .cte("unit_prices")
        )
        group = [totals.c.bucket_start, cluster_table.c.name, totals.c.cluster_id, *(totals.c[k] for k in by)]
        query = (
            select(
                *group,
                *(func.sum(totals.c[q] * unit.c[u] / 3600.0).label(out) for q, u, out in money),
                func.sum(case((unit.c.price_key_id.is_(None), 1), else_=0)).label("unpriced"),
            )
            .select_from(
                totals.join(cluster_table, cluster_table.c.id == totals.c.cluster_id)
                .join(epochs, epochs.c.label == totals.c.bucket_start)
                .outerjoin(
                    unit, (unit.c.epoch == epochs.c.epoch) & (unit.c.price_key_id == totals.c.price_key_id)
                )
            )
            .group_by(*group)
        )
        frame = _frame(_driver_rows(conn, query), [*columns, "unpriced"], [*outs, "unpriced"])
        if len(frame) and (frame["unpriced"] > 0).any():
            raise ValueError("stored quantities of a price key that has no price")
        starts = pd.DatetimeIndex([utc(lo) for lo, _ in part])
        frame["period_start"] = starts[frame["period_start"].astype("int64").to_numpy()]
        return frame.drop(columns="unpriced")

    return _in_periods(conn, periods, clusters, read, columns[1:])
