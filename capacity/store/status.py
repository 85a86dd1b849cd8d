"""Read-side queries over the store that the CLI and the dashboard share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from capacity.config import Pricing
from capacity.costing import asset_sources
from capacity.store import schema as m
from capacity.store.latest import current_prices, latest_snapshots
from capacity.store.priced import asset_keys


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """Per cluster: how much history there is, and the totals of its latest snapshot."""

    cluster: str
    snapshots: int
    first_snapshot: datetime
    latest_snapshot: datetime
    nodes: int
    pods: int  # holding resources: bound to a node and not finished
    pending_pods: int
    containers: int
    cpu_allocatable_cores: float
    memory_allocatable_bytes: float
    cpu_requested_cores: float
    memory_requested_bytes: float
    cpu_usage_cores: float | None
    memory_usage_bytes: float | None
    warnings: list[str]


def cluster_names(conn: Connection) -> list[str]:
    """Return the name of every cluster in the store, sorted."""
    return sorted(str(n) for n in conn.execute(select(m.Cluster.name)).scalars())


def cluster_status(conn: Connection, *, clusters: tuple[str, ...] = ()) -> list[ClusterStatus]:
    """Return one ClusterStatus per cluster with at least one snapshot, by cluster name."""
    latest = latest_snapshots(clusters)
    query = (
        select(
            m.Cluster.name,
            latest.c.snapshots,
            latest.c.first_snapshot,
            m.Snapshot.id,
            m.Snapshot.taken_at,
            m.Snapshot.node_count,
            m.Snapshot.pod_count,
            m.Snapshot.pending_pod_count,
            m.Snapshot.container_count,
            m.Snapshot.usage_known,
            m.Snapshot.warnings,
        )
        .join(latest, latest.c.cluster_id == m.Cluster.id)
        .join(m.Snapshot, m.Snapshot.id == latest.c.snapshot_id)
        .order_by(m.Cluster.name)
    )
    results = []
    for snap in conn.execute(query):
        totals = conn.execute(
            select(
                func.coalesce(func.sum(m.NodeSample.cpu_allocatable), 0.0),
                func.coalesce(func.sum(m.NodeSample.memory_allocatable), 0.0),
                func.coalesce(func.sum(m.NodeSample.cpu_requested), 0.0),
                func.coalesce(func.sum(m.NodeSample.memory_requested), 0.0),
            ).where(m.NodeSample.snapshot_id == snap.id)
        ).one()
        usage = conn.execute(
            select(
                func.coalesce(func.sum(m.ContainerSample.cpu_usage_sum), 0.0),
                func.coalesce(func.sum(m.ContainerSample.memory_usage_sum), 0.0),
            ).where(m.ContainerSample.snapshot_id == snap.id)
        ).one()
        results.append(
            ClusterStatus(
                cluster=snap.name,
                snapshots=int(snap.snapshots),
                first_snapshot=snap.first_snapshot,
                latest_snapshot=snap.taken_at,
                nodes=snap.node_count,
                pods=snap.pod_count,
                pending_pods=snap.pending_pod_count,
                containers=snap.container_count,
                cpu_allocatable_cores=float(totals[0]),
                memory_allocatable_bytes=float(totals[1]),
                cpu_requested_cores=float(totals[2]),
                memory_requested_bytes=float(totals[3]),
                cpu_usage_cores=float(usage[0] or 0.0) if snap.usage_known else None,
                memory_usage_bytes=float(usage[1] or 0.0) if snap.usage_known else None,
                warnings=list(snap.warnings or []),
            )
        )
    return results


def price_sources(
    conn: Connection, *, clusters: tuple[str, ...] = (), pricing: Pricing | None = None
) -> dict[str, int]:
    """Return how many nodes of each cluster's latest snapshot are priced by each source, today.

    Nodes from before price keys count under the source they were priced by when collected.
    """
    latest = latest_snapshots(clusters)
    query = (
        select(m.NodeSample.price_key_id, m.NodeSample.price_source, func.count())
        .join(latest, latest.c.snapshot_id == m.NodeSample.snapshot_id)
        .group_by(m.NodeSample.price_key_id, m.NodeSample.price_source)
    )
    rows = list(conn.execute(query))
    keyed = [int(key) for key, _, _ in rows if key is not None]
    sources: dict[int, str] = {}
    if keyed:
        table = current_prices(conn, keyed, pricing or Pricing())
        sources = dict(zip(map(int, table.index), map(str, table["price_source"]), strict=True))
    counts: dict[str, int] = {}
    for key, stored, count in rows:
        source = str(sources[int(key)]) if key is not None else str(stored)
        counts[source] = counts.get(source, 0) + int(count)
    return counts


def asset_price_sources(
    conn: Connection, *, clusters: tuple[str, ...] = (), pricing: Pricing | None = None
) -> dict[str, dict[str, int]]:
    """Return how many volumes and load balancers of each cluster's latest snapshot are priced by
    each source, today: ``{"volumes": {source: n}, "load balancers": {...}}``."""
    latest = latest_snapshots(clusters)
    sources = asset_sources(asset_keys(conn), (pricing or Pricing()).at(datetime.now(UTC)))  # prices today
    counts: dict[str, dict[str, int]] = {"volumes": {}, "load balancers": {}}
    for name, model in (("volumes", m.VolumeSample), ("load balancers", m.LoadBalancerSample)):
        query = (
            select(model.asset_key_id, func.count())
            .join(latest, latest.c.snapshot_id == model.snapshot_id)
            .group_by(model.asset_key_id)
        )
        for key, count in conn.execute(query):
            source = sources[int(key)]
            counts[name][source] = counts[name].get(source, 0) + int(count)
    return counts
