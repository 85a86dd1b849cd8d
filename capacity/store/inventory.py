"""What each cluster's latest snapshot offers: node pools, node packing, headroom, pending demand.

Every query reads only the newest snapshot of each cluster (``node_samples`` at its
``taken_at``, and the pod-grain ``pods`` table, which holds that snapshot alone), aggregates
in SQL and shapes the result with pandas. CPU is in cores, memory in bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, Select, and_, case, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from capacity.analysis.binpacking import NODE_COLUMNS, POD_COLUMNS
from capacity.analysis.costs import ratio
from capacity.config import Pricing
from capacity.records import FINISHED_PHASES
from capacity.store import schema as m
from capacity.store.latest import latest_snapshots, node_hourly

NO_POOL = "(no pool)"
NO_INSTANCE_TYPE = "(unknown)"

POOL_COLUMNS = [
    "cluster", "pool", "nodes", "spot_nodes", "spot_share", "not_ready", "cordoned", "instance_types",
    "cpu_allocatable", "cpu_requested", "cpu_used", "memory_allocatable", "memory_requested",
    "memory_used", "cpu_headroom", "memory_headroom", "largest_cpu_free", "largest_memory_free",
    "hourly_cost",
]  # fmt: skip
PACKING_COLUMNS = [
    "cluster", "node", "pool", "instance_type", "capacity_type", "ready", "cordoned", "pods",
    "cpu_allocatable", "cpu_requested", "cpu_used", "memory_allocatable", "memory_requested",
    "memory_used", "cpu_requested_share", "cpu_used_share", "memory_requested_share",
    "memory_used_share",
]  # fmt: skip
PENDING_COLUMNS = ["cluster", "namespace", "kind", "workload", "pods", "cpu_requested", "memory_requested"]


def _cluster_ids(clusters: Sequence[str]) -> Select[int]:
    return select(m.Cluster.id).where(m.Cluster.name.in_(tuple(clusters)))


def _cluster_filter(clusters: Sequence[str]) -> ColumnElement[bool]:
    return m.Cluster.name.in_(tuple(clusters)) if clusters else literal(True)


def _schedulable() -> ColumnElement[bool]:
    return and_(m.NodeSample.ready.is_(True), m.NodeSample.unschedulable.is_(False))


def _free(
    allocatable: InstrumentedAttribute[float], requested: InstrumentedAttribute[float]
) -> ColumnElement[float]:
    """Return allocatable − requested on ready, schedulable nodes, never below zero."""
    return case(
        (and_(_schedulable(), allocatable > requested), allocatable - requested),
        else_=0.0,
    )


def node_pools(
    conn: Connection, *, clusters: Sequence[str] = (), pricing: Pricing | None = None
) -> pd.DataFrame:
    """Return one row per (cluster, node pool) of the latest snapshots, largest pools first.

    Columns: see ``POOL_COLUMNS``. ``*_used`` is NaN when no node of the pool reported usage;
    headroom counts only ready, schedulable nodes; ``largest_*_free`` is the most any single
    node could still take (a bigger pod stays pending even when the pool's headroom is larger).
    """
    latest = latest_snapshots()
    ns = m.NodeSample
    pool = func.coalesce(m.Node.node_pool, NO_POOL).label("pool")
    instance_type = func.coalesce(m.Node.instance_type, NO_INSTANCE_TYPE).label("instance_type")
    query = (
        select(
            m.Cluster.name.label("cluster"),
            pool,
            instance_type,
            m.Node.capacity_type,
            func.count().label("nodes"),
            func.sum(case((ns.ready.is_(True), 0), else_=1)).label("not_ready"),
            func.sum(case((ns.unschedulable.is_(True), 1), else_=0)).label("cordoned"),
            func.sum(ns.cpu_allocatable).label("cpu_allocatable"),
            func.sum(ns.cpu_requested).label("cpu_requested"),
            func.sum(ns.cpu_usage).label("cpu_used"),
            func.sum(ns.memory_allocatable).label("memory_allocatable"),
            func.sum(ns.memory_requested).label("memory_requested"),
            func.sum(ns.memory_usage).label("memory_used"),
            func.sum(_free(ns.cpu_allocatable, ns.cpu_requested)).label("cpu_headroom"),
            func.sum(_free(ns.memory_allocatable, ns.memory_requested)).label("memory_headroom"),
            func.max(_free(ns.cpu_allocatable, ns.cpu_requested)).label("largest_cpu_free"),
            func.max(_free(ns.memory_allocatable, ns.memory_requested)).label("largest_memory_free"),
            func.sum(ns.hourly_price).label("stored_hourly"),
            ns.price_key_id,
        )
        .select_from(ns)
        .join(latest, and_(latest.c.cluster_id == ns.cluster_id, latest.c.taken_at == ns.taken_at))
        .join(m.Node, m.Node.id == ns.node_id)
        .join(m.Cluster, m.Cluster.id == ns.cluster_id)
        .where(_cluster_filter(clusters))
        .group_by(m.Cluster.name, pool, instance_type, m.Node.capacity_type, ns.price_key_id)
    )
    rows = pd.DataFrame(conn.execute(query).mappings().all())
    if rows.empty:
        return pd.DataFrame(columns=POOL_COLUMNS)
    rows["hourly_cost"] = node_hourly(conn, rows, pricing or Pricing())
    # one row per instance type again, whatever its price keys
    by_type = rows.groupby(["cluster", "pool", "instance_type", "capacity_type"], sort=False)
    counted = ["nodes", "not_ready", "cordoned", "cpu_allocatable", "cpu_requested", "memory_allocatable",
               "memory_requested", "cpu_headroom", "memory_headroom", "hourly_cost"]  # fmt: skip
    rows = by_type[counted].sum()
    rows["cpu_used"] = by_type["cpu_used"].sum(min_count=1)
    rows["memory_used"] = by_type["memory_used"].sum(min_count=1)
    rows["largest_cpu_free"] = by_type["largest_cpu_free"].max()
    rows["largest_memory_free"] = by_type["largest_memory_free"].max()
    rows = rows.reset_index()
    rows["spot"] = rows["nodes"].where(rows["capacity_type"] == "spot", 0)
    rows["type_label"] = rows["instance_type"] + " ×" + rows["nodes"].astype(str)
    rows = rows.sort_values(
        ["cluster", "pool", "nodes", "instance_type"], ascending=[True, True, False, True]
    )
    sums = ["nodes", "spot", "not_ready", "cordoned", "cpu_allocatable", "cpu_requested"]
    sums += ["memory_allocatable", "memory_requested", "cpu_headroom", "memory_headroom", "hourly_cost"]
    grouped = rows.groupby(["cluster", "pool"], sort=False)
    pools = grouped[sums].sum()
    # min_count=1: a pool where no node reported usage has unknown usage, not zero.
    pools["cpu_used"] = grouped["cpu_used"].sum(min_count=1)
    pools["memory_used"] = grouped["memory_used"].sum(min_count=1)
    pools["largest_cpu_free"] = grouped["largest_cpu_free"].max()
    pools["largest_memory_free"] = grouped["largest_memory_free"].max()
    pools["instance_types"] = grouped["type_label"].agg(", ".join)
    pools = pools.reset_index().rename(columns={"spot": "spot_nodes"})
    pools["spot_share"] = ratio(pools["spot_nodes"], pools["nodes"])
    for column in ("nodes", "spot_nodes", "not_ready", "cordoned"):
        pools[column] = pools[column].astype("int64")
    pools = pools.sort_values(["cluster", "cpu_allocatable"], ascending=[True, False], ignore_index=True)
    return pools[POOL_COLUMNS]


def pool_headroom(conn: Connection, *, clusters: Sequence[str] = ()) -> pd.DataFrame:
    """Return allocatable − requested per (cluster, pool) on ready, schedulable nodes."""
    pools = node_pools(conn, clusters=clusters)
    return pools[
        [
            "cluster",
            "pool",
            "nodes",
            "cpu_headroom",
            "memory_headroom",
            "largest_cpu_free",
            "largest_memory_free",
        ]
    ].copy()


def node_packing(conn: Connection, *, clusters: Sequence[str] = ()) -> pd.DataFrame:
    """Return one row per node of the latest snapshots, fullest (CPU requested share) first.

    ``*_share`` columns are fractions of allocatable (NaN where allocatable is zero or usage
    unknown); ``pods`` counts pods bound to the node and not finished, from the pod-grain table.
    """
    # The cluster filter goes into both subqueries rather than the outer WHERE: that way the
    # newest snapshots drive the join and node_samples is searched by (cluster_id, taken_at),
    # not scanned over every snapshot of the chosen clusters.
    latest = latest_snapshots(clusters)
    ns = m.NodeSample
    # Counting pods per node reads every row of the pod-grain table (phase is in no index):
    # most of this query's time, so read only the chosen clusters' pods.
    pods_query = select(m.Pod.cluster_id, m.Pod.node_name, func.count().label("pods")).where(
        m.Pod.node_name.is_not(None), m.Pod.phase.not_in(FINISHED_PHASES)
    )
    if clusters:
        pods_query = pods_query.where(m.Pod.cluster_id.in_(_cluster_ids(clusters)))
    pods = pods_query.group_by(m.Pod.cluster_id, m.Pod.node_name).subquery()
    query = (
        select(
            m.Cluster.name.label("cluster"),
            m.Node.name.label("node"),
            func.coalesce(m.Node.node_pool, NO_POOL).label("pool"),
            func.coalesce(m.Node.instance_type, NO_INSTANCE_TYPE).label("instance_type"),
            m.Node.capacity_type,
            ns.ready,
            ns.unschedulable.label("cordoned"),
            func.coalesce(pods.c.pods, 0).label("pods"),
            ns.cpu_allocatable,
            ns.cpu_requested,
            ns.cpu_usage.label("cpu_used"),
            ns.memory_allocatable,
            ns.memory_requested,
            ns.memory_usage.label("memory_used"),
        )
        .select_from(ns)
        .join(latest, and_(latest.c.cluster_id == ns.cluster_id, latest.c.taken_at == ns.taken_at))
        .join(m.Node, m.Node.id == ns.node_id)
        .join(m.Cluster, m.Cluster.id == ns.cluster_id)
        .outerjoin(pods, and_(pods.c.cluster_id == ns.cluster_id, pods.c.node_name == m.Node.name))
    )
    result = conn.execute(query)
    columns = list(result.keys())
    # Plain tuples: building the frame from them is several times faster than from row mappings.
    frame = pd.DataFrame([tuple(row) for row in result.all()], columns=columns)
    if frame.empty:
        return pd.DataFrame(columns=PACKING_COLUMNS)
    for resource in ("cpu", "memory"):
        allocatable = frame[f"{resource}_allocatable"]
        frame[f"{resource}_used"] = frame[f"{resource}_used"].astype("float64")
        frame[f"{resource}_requested_share"] = ratio(frame[f"{resource}_requested"], allocatable)
        frame[f"{resource}_used_share"] = ratio(frame[f"{resource}_used"], allocatable)
    frame["ready"] = frame["ready"].astype(bool)
    frame["cordoned"] = frame["cordoned"].astype(bool)
    frame["pods"] = frame["pods"].astype("int64")
    frame = frame.sort_values(
        ["cpu_requested_share", "memory_requested_share", "cluster", "node"],
        ascending=[False, False, True, True],
        ignore_index=True,
        na_position="last",
    )
    return frame[PACKING_COLUMNS]


def pending_demand(conn: Connection, *, clusters: Sequence[str] = ()) -> pd.DataFrame:
    """Return unscheduled demand per (cluster, namespace, workload): pending pods with no node.

    Largest CPU demand first. These pods hold nothing and cost nothing; they are what the
    cluster could not place at its latest snapshot.
    """
    query = (
        select(
            m.Cluster.name.label("cluster"),
            m.Pod.namespace,
            m.Workload.kind,
            m.Workload.name.label("workload"),
            func.count().label("pods"),
            func.sum(m.Pod.cpu_request).label("cpu_requested"),
            func.sum(m.Pod.memory_request).label("memory_requested"),
        )
        .join(m.Cluster, m.Cluster.id == m.Pod.cluster_id)
        .join(m.Workload, m.Workload.id == m.Pod.workload_id)
        .where(m.Pod.phase == "Pending", m.Pod.node_name.is_(None), _cluster_filter(clusters))
        .group_by(m.Cluster.name, m.Pod.namespace, m.Workload.kind, m.Workload.name)
    )
    frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=PENDING_COLUMNS)
    frame["pods"] = frame["pods"].astype("int64")
    frame = frame.sort_values(
        ["cpu_requested", "memory_requested", "cluster", "namespace", "workload"],
        ascending=[False, False, True, True, True],
        ignore_index=True,
    )
    return frame[PENDING_COLUMNS]


def packing_inputs(
    conn: Connection, *, clusters: Sequence[str] = (), pricing: Pricing | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (pods, nodes) of the latest snapshots for ``capacity.analysis.binpacking.simulate``.

    Pods (``POD_COLUMNS``): those bound to a node of the latest snapshot and not finished,
    grouped in SQL by pool, zone, capacity type, workload, requests and what pins them (``pods``
    counts them, usage is summed); a DaemonSet group is per node. Nodes (``NODE_COLUMNS``): every
    node of the latest snapshots with its pool (``NO_POOL`` when it has none), allocatable,
    hourly price, labels and taints.
    """
    latest = latest_snapshots(clusters)
    ns = m.NodeSample
    pool = func.coalesce(m.Node.node_pool, NO_POOL)
    node = case((m.Pod.daemonset.is_(True), m.Pod.node_name), else_=None)
    pins = [m.Node.zone, m.Node.capacity_type, m.Pod.node_selector, m.Pod.required_affinity,
            m.Pod.tolerations, m.Pod.repels_own, m.Pod.zone_skew]  # fmt: skip
    keys = [m.Cluster.name, pool, node, m.Pod.namespace, m.Workload.kind, m.Workload.name, m.Pod.daemonset,
            m.Pod.cpu_request, m.Pod.memory_request, m.Pod.gpu_request, *pins]  # fmt: skip
    pods_query = (
        select(
            m.Cluster.name.label("cluster"),
            pool.label("pool"),
            node.label("node"),
            m.Pod.namespace,
            m.Workload.kind,
            m.Workload.name.label("workload"),
            m.Pod.daemonset,
            func.count().label("pods"),
            m.Pod.cpu_request,
            m.Pod.memory_request,
            m.Pod.gpu_request,
            func.sum(m.Pod.cpu_usage).label("cpu_usage"),
            func.sum(m.Pod.memory_usage).label("memory_usage"),
            *pins,
        )
        .select_from(m.Pod)
        .join(m.Node, and_(m.Node.cluster_id == m.Pod.cluster_id, m.Node.name == m.Pod.node_name))
        .join(ns, ns.node_id == m.Node.id)
        .join(latest, and_(latest.c.cluster_id == ns.cluster_id, latest.c.taken_at == ns.taken_at))
        .join(m.Cluster, m.Cluster.id == m.Pod.cluster_id)
        .join(m.Workload, m.Workload.id == m.Pod.workload_id)
        .where(m.Pod.phase.not_in(FINISHED_PHASES))
        .group_by(*keys)
    )
    pods = pd.DataFrame([tuple(row) for row in conn.execute(pods_query)], columns=POD_COLUMNS)
    pods["daemonset"] = pods["daemonset"].astype(bool)
    pods["repels_own"] = pods["repels_own"].astype(bool)
    pods["pods"] = pods["pods"].astype("int64")
    for column in ("cpu_request", "memory_request", "gpu_request", "cpu_usage", "memory_usage"):
        pods[column] = pods[column].astype("float64")

    nodes_query = (
        select(
            m.Cluster.name.label("cluster"),
            m.Node.name.label("node"),
            pool.label("pool"),
            ns.cpu_allocatable,
            ns.memory_allocatable,
            ns.gpu_allocatable,
            ns.pods_allocatable,
            ns.hourly_price.label("stored_hourly"),
            ns.price_key_id,
            m.Node.zone,
            m.Node.capacity_type,
            m.Node.labels,
            m.Node.taints,
            m.Node.instance_type,
            m.Node.region,
        )
        .select_from(ns)
        .join(latest, and_(latest.c.cluster_id == ns.cluster_id, latest.c.taken_at == ns.taken_at))
        .join(m.Node, m.Node.id == ns.node_id)
        .join(m.Cluster, m.Cluster.id == ns.cluster_id)
    )
    found = pd.DataFrame(conn.execute(nodes_query).mappings().all())
    if found.empty:
        return pods, pd.DataFrame(columns=NODE_COLUMNS)
    found["hourly_price"] = node_hourly(conn, found.assign(nodes=1), pricing or Pricing())
    return pods, found[NODE_COLUMNS]
