"""The quantities the cost rule prices, by price key: container allocations, and what nodes of
each key offered and left idle; by asset key: what workloads held of volumes and load balancers,
and what each volume provisioned and left unmounted. Collectors store these, never money;
``capacity.costing`` prices them with the configuration of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, select, true
from sqlalchemy.sql.elements import ColumnElement

from capacity.records import AssetKey, PriceKey
from capacity.store import schema as m
from capacity.store.grains import CLUSTERS, CONTAINERS, NODES, NS, SNAP, Exprs, Grain, table_of

CA = table_of(m.ContainerAllocation)
AR = table_of(m.AllocationRollup)
NPR = table_of(m.NodePriceRollup)
CPR = table_of(m.ClusterPriceRollup)
PK = table_of(m.PriceKeyRow)
AA = table_of(m.AssetAllocation)
ASR = table_of(m.AssetRollup)
VS = table_of(m.VolumeSample)
VR = table_of(m.VolumeRollup)
LBS = table_of(m.LoadBalancerSample)
AK = table_of(m.AssetKeyRow)


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


def _volume_exprs() -> Exprs:
    seconds = SNAP.c.interval_seconds
    mounted = VS.c.mounted_pods > 0
    return {
        "seconds": seconds,
        "capacity_bs": VS.c.capacity_bytes * seconds,
        "mounted_seconds": case((mounted, seconds), else_=0.0),
        "unmounted_bs": case((mounted, 0.0), else_=VS.c.capacity_bytes * seconds),
        "capacity_bytes_max": VS.c.capacity_bytes,
    }


# byte-seconds of volumes or load-balancer-seconds each workload held, by asset key
ASSETS = Grain(AA, ASR, ("workload_id", "asset_key_id"), {"amount_s": AA.c.amount * SNAP.c.interval_seconds},
               true(), False)  # fmt: skip
VOLUMES = Grain(
    VS, VR, ("volume", "claim_namespace", "claim_name", "asset_key_id"), _volume_exprs(), true(), False
)
PRICED_GRAINS = (ALLOCATIONS, NODE_PRICES, CLUSTER_PRICES, ASSETS, VOLUMES)
# every grain compaction rolls up, and retention deletes by tier
ROLLED_GRAINS = (CONTAINERS, NODES, CLUSTERS, *PRICED_GRAINS)
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


def _asset_key(row: Any) -> AssetKey:
    return AssetKey(
        kind=row.kind,
        storage_class=row.storage_class,
        provisioner=row.provisioner,
        parameters=tuple(sorted((str(k), str(v)) for k, v in (row.parameters or {}).items())),
        load_balancer_class=row.load_balancer_class,
        local=bool(row.local),
    )


def asset_keys(conn: Connection) -> dict[int, AssetKey]:
    """Return every asset key by id (a store holds a handful: one per storage class and LB class)."""
    return {int(row.id): _asset_key(row) for row in conn.execute(select(AK))}
