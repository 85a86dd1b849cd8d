"""Writing a snapshot: one transaction, idempotent per (cluster, timestamp).

The caller owns the transaction (``with engine.begin() as conn: write_snapshot(conn, snap)``),
so a failure anywhere rolls the whole snapshot back and nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from capacity.histogram import MEMORY_FIRST_BUCKET, bucket_of
from capacity.records import FINISHED_PHASES, POD_OVERHEAD_CONTAINER, PriceKey, Snapshot, WorkloadKey
from capacity.store import schema as m
from capacity.store.inserts import bulk_insert, insert_ignoring_conflicts, key_ids
from capacity.store.object_writes import OBJECT_TABLES, write_assets


def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


@dataclass(frozen=True, slots=True)
class WriteResult:
    snapshot_id: int
    replaced: bool  # a snapshot with the same (cluster, taken_at) existed and was replaced
    interval_seconds: float


def cluster_id(conn: Connection, name: str, *, now: datetime) -> int:
    """Return the id of cluster ``name``, creating it if needed."""
    table = _table(m.Cluster)
    insert_ignoring_conflicts(conn, table, [{"name": name, "created_at": now}])
    found = conn.execute(select(m.Cluster.id).where(m.Cluster.name == name)).scalar_one()
    return int(found)


def _delete_snapshot(conn: Connection, snapshot_id: int) -> None:
    for model in (m.NodeSample, m.ContainerSample, m.ContainerAllocation, m.QuotaSample, *OBJECT_TABLES):
        conn.execute(delete(model).where(model.snapshot_id == snapshot_id))
    conn.execute(delete(m.Pod).where(m.Pod.snapshot_id == snapshot_id))
    conn.execute(delete(m.Snapshot).where(m.Snapshot.id == snapshot_id))


def price_key_ids(conn: Connection, keys: Iterable[PriceKey]) -> dict[PriceKey, int]:
    """Return the id of each price key, creating the missing ones."""
    wanted = {key.digest: key for key in keys}
    rows = {
        digest: {
            "instance_type": key.instance_type,
            "capacity_type": key.capacity_type,
            "region": key.region,
            "override_hourly": key.override_hourly,
            "cpu_capacity": key.cpu,
            "memory_capacity": key.memory,
            "gpu_capacity": key.gpu,
        }
        for digest, key in wanted.items()
    }
    return {wanted[digest]: ident for digest, ident in key_ids(conn, _table(m.PriceKeyRow), rows).items()}


def _interval(
    conn: Connection, cid: int, taken_at: datetime, nominal: float
) -> tuple[float, tuple[int, datetime] | None]:
    previous = conn.execute(
        select(m.Snapshot.taken_at)
        .where(m.Snapshot.cluster_id == cid, m.Snapshot.taken_at < taken_at)
        .order_by(m.Snapshot.taken_at.desc())
        .limit(1)
    ).scalar()
    interval = nominal if previous is None else min((taken_at - previous).total_seconds(), 2 * nominal)
    following = conn.execute(
        select(m.Snapshot.id, m.Snapshot.taken_at)
        .where(m.Snapshot.cluster_id == cid, m.Snapshot.taken_at > taken_at)
        .order_by(m.Snapshot.taken_at)
        .limit(1)
    ).first()
    return interval, (None if following is None else (int(following[0]), following[1]))


def _namespace_ids(conn: Connection, cid: int, snap: Snapshot) -> None:
    existing = {
        name: labels
        for name, labels in conn.execute(
            select(m.Namespace.name, m.Namespace.labels).where(m.Namespace.cluster_id == cid)
        )
    }
    new = [
        {"cluster_id": cid, "name": ns.name, "labels": ns.labels, "first_seen_at": snap.taken_at}
        for ns in snap.namespaces
        if ns.name not in existing
    ]
    insert_ignoring_conflicts(conn, _table(m.Namespace), new)
    for ns in snap.namespaces:
        if ns.name in existing and existing[ns.name] != ns.labels:
            conn.execute(
                update(m.Namespace)
                .where(m.Namespace.cluster_id == cid, m.Namespace.name == ns.name)
                .values(labels=ns.labels)
            )


def _node_ids(conn: Connection, cid: int, snap: Snapshot) -> dict[str, int]:
    def attrs(node: Any) -> dict[str, Any]:
        return {
            "instance_type": node.instance_type,
            "capacity_type": node.capacity_type,
            "zone": node.zone,
            "region": node.region,
            "node_pool": node.node_pool,
            "labels": node.labels,
            "taints": node.taints,
        }

    columns = (
        m.Node.id,
        m.Node.name,
        m.Node.instance_type,
        m.Node.capacity_type,
        m.Node.zone,
        m.Node.region,
        m.Node.node_pool,
        m.Node.labels,
        m.Node.taints,
    )
    existing = {
        row.name: (row.id, dict(row._mapping))
        for row in conn.execute(select(*columns).where(m.Node.cluster_id == cid))
    }
    new = [
        {"cluster_id": cid, "name": n.name, "first_seen_at": snap.taken_at, **attrs(n)}
        for n in snap.nodes
        if n.name not in existing
    ]
    insert_ignoring_conflicts(conn, _table(m.Node), new)
    for node in snap.nodes:
        if node.name in existing:
            node_id, stored = existing[node.name]
            wanted = attrs(node)
            if any(stored[key] != value for key, value in wanted.items()):
                conn.execute(update(m.Node).where(m.Node.id == node_id).values(**wanted))
    if not new:
        return {name: ident for name, (ident, _) in existing.items()}
    return {
        name: int(ident)
        for ident, name in conn.execute(select(m.Node.id, m.Node.name).where(m.Node.cluster_id == cid))
    }


def _workload_ids(conn: Connection, cid: int, snap: Snapshot) -> dict[WorkloadKey, int]:
    keys: set[WorkloadKey] = set(snap.workload_labels)
    keys.update(c.workload for c in snap.containers)
    keys.update(p.workload for p in snap.pods)
    keys.update(a.workload for a in snap.assets)
    keys.update(h.workload for h in snap.hpas)
    query = select(m.Workload.id, m.Workload.namespace, m.Workload.kind, m.Workload.name, m.Workload.labels)
    existing = {
        WorkloadKey(ns, kind, name): (int(ident), labels)
        for ident, ns, kind, name, labels in conn.execute(query.where(m.Workload.cluster_id == cid))
    }
    new = [
        {
            "cluster_id": cid,
            "namespace": key.namespace,
            "kind": key.kind,
            "name": key.name,
            "labels": snap.workload_labels.get(key, {}),
            "first_seen_at": snap.taken_at,
        }
        for key in sorted(keys - existing.keys(), key=lambda k: (k.namespace, k.kind, k.name))
    ]
    insert_ignoring_conflicts(conn, _table(m.Workload), new)
    changed = [
        {"wid": ident, "new_labels": snap.workload_labels[key]}
        for key, (ident, labels) in existing.items()
        if key in snap.workload_labels and snap.workload_labels[key] != labels
    ]
    if changed:
        stmt = (
            update(_table(m.Workload))
            .where(_table(m.Workload).c.id == bindparam("wid"))
            .values(labels=bindparam("new_labels"))
        )
        conn.execute(stmt, changed)
    ids = {key: ident for key, (ident, _) in existing.items()}
    if new:
        for ident, ns, kind, name, _labels in conn.execute(query.where(m.Workload.cluster_id == cid)):
            ids[WorkloadKey(ns, kind, name)] = int(ident)
    return ids


def write_snapshot(
    conn: Connection, snap: Snapshot, *, nominal_interval_seconds: float, pod_grain: bool = True
) -> WriteResult:
    """Write ``snap`` in the caller's transaction and return its id; replaces a same-instant snapshot.

    ``pod_grain=False`` skips the pod-grain rows, which only the newest snapshot of a cluster
    keeps: a writer that knows a newer snapshot follows (the demo's history) saves the work.
    """
    cid = cluster_id(conn, snap.cluster, now=snap.taken_at)
    if conn.dialect.name == "postgresql":
        # Two writers of one cluster's same instant: the second waits here for the first to
        # commit, then replaces it (SQLite serializes writers by itself).
        conn.execute(select(func.pg_advisory_xact_lock(cid, int(snap.taken_at.timestamp()) & 0x7FFFFFFF)))
    old = conn.execute(
        select(m.Snapshot.id).where(m.Snapshot.cluster_id == cid, m.Snapshot.taken_at == snap.taken_at)
    ).scalar()
    if old is not None:
        _delete_snapshot(conn, int(old))
    interval, following = _interval(conn, cid, snap.taken_at, nominal_interval_seconds)
    if following is not None:
        # A backfilled snapshot shortens the one after it: no second counts twice.
        next_id, next_at = following
        conn.execute(
            update(m.Snapshot)
            .where(m.Snapshot.id == next_id)
            .values(
                interval_seconds=min((next_at - snap.taken_at).total_seconds(), 2 * nominal_interval_seconds)
            )
        )
    snapshot_id = conn.execute(
        insert(m.Snapshot).returning(m.Snapshot.id),
        {
            "cluster_id": cid,
            "taken_at": snap.taken_at,
            "interval_seconds": interval,
            "source": snap.source,
            "usage_known": snap.usage_known,
            "node_count": len(snap.nodes),
            "pod_count": sum(1 for p in snap.pods if p.node is not None and p.phase not in FINISHED_PHASES),
            "pending_pod_count": sum(1 for p in snap.pods if p.node is None and p.phase == "Pending"),
            "container_count": sum(
                c.replicas for c in snap.containers if c.container != POD_OVERHEAD_CONTAINER
            ),
            "duration_seconds": snap.duration_seconds,
            "warnings": list(snap.warnings),
        },
    ).scalar_one()
    _namespace_ids(conn, cid, snap)
    node_ids = _node_ids(conn, cid, snap)
    workload_ids = _workload_ids(conn, cid, snap)
    key_ids = price_key_ids(conn, (n.price_key for n in snap.nodes))
    common = {"snapshot_id": snapshot_id, "cluster_id": cid, "taken_at": snap.taken_at}
    bulk_insert(
        conn, _table(m.NodeSample), (_node_row(n, node_ids[n.name], key_ids, common) for n in snap.nodes)
    )
    bulk_insert(
        conn,
        _table(m.ContainerSample),
        (_container_row(c, workload_ids[c.workload], common) for c in snap.containers),
    )
    bulk_insert(
        conn,
        _table(m.ContainerAllocation),
        (
            {
                **common,
                "workload_id": workload_ids[c.workload],
                "container": c.container,
                "price_key_id": key_ids[key],
                "cpu_allocated": cpu,
                "memory_allocated": memory,
                "gpu_allocated": gpu,
            }
            for c in snap.containers
            for key, (cpu, memory, gpu) in c.allocations.items()
        ),
    )
    bulk_insert(
        conn,
        _table(m.QuotaSample),
        (
            {
                **common,
                "namespace": q.namespace,
                "name": q.name,
                "resource": q.resource,
                "hard": q.hard,
                "used": q.used,
            }
            for q in snap.quotas
        ),
    )
    write_assets(conn, snap, common, workload_ids)
    if following is None and pod_grain:
        # Only the newest snapshot of a cluster is kept at pod grain.
        conn.execute(delete(m.Pod).where(m.Pod.cluster_id == cid))
        bulk_insert(conn, _table(m.Pod), (_pod_row(p, workload_ids[p.workload], common) for p in snap.pods))
    return WriteResult(snapshot_id=int(snapshot_id), replaced=old is not None, interval_seconds=interval)


def _node_row(
    n: Any, node_id: int, price_ids: Mapping[PriceKey, int], common: dict[str, Any]
) -> dict[str, Any]:
    return {
        **common,
        "node_id": node_id,
        "price_key_id": price_ids[n.price_key],
        "cpu_capacity": n.capacity.cpu,
        "memory_capacity": n.capacity.memory,
        "gpu_capacity": n.capacity.gpu,
        "cpu_allocatable": n.allocatable.cpu,
        "memory_allocatable": n.allocatable.memory,
        "gpu_allocatable": n.allocatable.gpu,
        "pods_allocatable": n.pods_allocatable,
        "cpu_requested": n.requested.cpu,
        "memory_requested": n.requested.memory,
        "gpu_requested": n.requested.gpu,
        "cpu_usage": None if n.usage is None else n.usage.cpu,
        "memory_usage": None if n.usage is None else n.usage.memory,
        "ready": n.ready,
        "unschedulable": n.unschedulable,
        # money columns: only rows written before price keys hold money (see schema.NodeSample)
        "hourly_price": 0.0,
        "cpu_core_hourly": 0.0,
        "memory_byte_hourly": 0.0,
        "gpu_hourly": 0.0,
        "price_source": "",
        "cpu_allocated": n.allocated.cpu,
        "memory_allocated": n.allocated.memory,
        "cpu_overcommit": n.overcommit.cpu,
        "memory_overcommit": n.overcommit.memory,
    }


_CONTAINER_FIELDS = (
    "replicas", "cpu_request", "memory_request", "gpu_request", "cpu_limit", "memory_limit",
    "usage_replicas", "cpu_usage_sum", "memory_usage_sum", "cpu_usage_max", "memory_usage_max",
    "cpu_allocated", "memory_allocated", "restarts", "oom_kills", "pending_replicas", "pending_cpu_request",
    "pending_memory_request",
)  # fmt: skip


def _total_hists(c: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Return one bucket each for the CPU and the memory of all the container's replicas, those
    without usage counted at the others' mean (empty when usage is unknown)."""
    if c.cpu_usage_sum is None or c.usage_replicas <= 0:
        return {}, {}
    scale = max(c.replicas, c.usage_replicas) / c.usage_replicas
    memory = (c.memory_usage_sum or 0.0) * scale
    return (
        {str(bucket_of(c.cpu_usage_sum * scale)): 1.0},
        {str(bucket_of(memory, first=MEMORY_FIRST_BUCKET)): 1.0},
    )


def _container_row(c: Any, workload_id: int, common: dict[str, Any]) -> dict[str, Any]:
    row = {**common, "workload_id": workload_id, "container": c.container}
    for name in _CONTAINER_FIELDS:
        row[name] = getattr(c, name)
    row["cpu_usage_hist"] = {str(k): v for k, v in c.cpu_usage_hist.items()}
    row["cpu_total_hist"], row["memory_total_hist"] = _total_hists(c)
    # money columns: only rows written before price keys hold money (see schema.ContainerSample)
    row.update(cpu_cost_hourly=0.0, memory_cost_hourly=0.0, gpu_cost_hourly=0.0)
    return row


def _pod_row(p: Any, workload_id: int, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "cluster_id": common["cluster_id"],
        "snapshot_id": common["snapshot_id"],
        "taken_at": common["taken_at"],
        "namespace": p.namespace,
        "name": p.name,
        "node_name": p.node,
        "phase": p.phase,
        "workload_id": workload_id,
        "cpu_request": p.request.cpu,
        "memory_request": p.request.memory,
        "gpu_request": p.request.gpu,
        "cpu_usage": None if p.usage is None else p.usage.cpu,
        "memory_usage": None if p.usage is None else p.usage.memory,
        "priority": p.priority,
        "node_selector": p.node_selector,
        "required_affinity": p.required_affinity,
        "tolerations": p.tolerations,
        "daemonset": p.daemonset,
        "restarts": p.restarts,
        "oom_kills": p.oom_kills,
        "repels_own": p.repels_own,
        "zone_skew": p.zone_skew,
    }
