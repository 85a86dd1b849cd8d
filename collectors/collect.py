"""One collection: list everything from a source, normalize it into a snapshot, write it whole."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar, cast

from sqlalchemy import Engine

from capacity.config import Config
from capacity.records import POD_OVERHEAD_CONTAINER, NamespaceRecord, QuotaRecord, Resources, Snapshot
from capacity.store.engine import translate_db_errors, write_transaction
from capacity.store.snapshots import WriteResult, write_snapshot
from collectors.assets import AssetPass, claims, load_balancers, storage_classes, volumes
from collectors.gcpause import cyclic_gc_paused
from collectors.hpas import hpa_records
from collectors.metrics import pod_metrics_map, usage_of
from collectors.node_facts import NodeFacts, node_facts
from collectors.normalize import PodPass
from collectors.objects import namespace_record, quota_records
from collectors.owners import OwnerIndex
from collectors.raw import Warnings, well_formed
from collectors.shapes import Node
from collectors.source import ClusterUnreachable, Kind, KindUnavailable, ListExpired, RawObject, Source

MAX_LIST_RESTARTS = 3
T = TypeVar("T")


def _listed(
    source: Source, kind: Kind, fold: Callable[[Iterator[list[RawObject]]], T], exhausted: Exception
) -> T:
    """Return ``fold`` of a list's pages, started over when the list expires mid-way.

    At most ``MAX_LIST_RESTARTS`` restarts (each after the source's own backoff); then ``exhausted``.
    """
    for _ in range(MAX_LIST_RESTARTS + 1):
        try:
            return fold(source.pages(kind))
        except ListExpired:
            continue
    raise exhausted


def _expired(cluster: str, kind: Kind) -> ClusterUnreachable:
    return ClusterUnreachable(
        f"cluster {cluster}: the {kind.label} list kept expiring ({MAX_LIST_RESTARTS + 1} tries)"
    )


def _list_all(source: Source, kind: Kind, cluster: str) -> list[RawObject]:
    return _listed(
        source, kind, lambda pages: [item for page in pages for item in page], _expired(cluster, kind)
    )


def _optional(
    source: Source, kind: Kind, cluster: str, warn: Callable[[str], None], consequence: str
) -> list[RawObject] | None:
    try:
        return _list_all(source, kind, cluster)
    except KindUnavailable as exc:
        warn(f"{exc}; {consequence}")
        return None


def build_snapshot(
    source: Source,
    *,
    cluster: str,
    config: Config,
    taken_at: datetime,
    source_name: str = "kubernetes",
    notes: Sequence[str] = (),
) -> Snapshot:
    """Return a normalized snapshot of everything ``source`` lists; raises SourceError on failure.

    ``notes`` are warnings the caller already has about this collection (its TLS, say).
    """
    with cyclic_gc_paused():
        return _build_snapshot(
            source, cluster=cluster, config=config, taken_at=taken_at, source_name=source_name, notes=notes
        )


def _build_snapshot(
    source: Source,
    *,
    cluster: str,
    config: Config,
    taken_at: datetime,
    source_name: str,
    notes: Sequence[str],
) -> Snapshot:
    started = time.monotonic()
    warn = Warnings()
    pricing = config.pricing

    for note in notes:
        warn(note)

    namespaces: dict[str, NamespaceRecord] = {}
    for item in well_formed(_list_all(source, Kind.NAMESPACES, cluster), "namespaces", warn):
        record = namespace_record(item, warn)
        if record.name in namespaces:
            warn(f"namespace {record.name} listed twice: the first kept")
            continue
        namespaces[record.name] = record

    nodes: dict[str, NodeFacts] = {}
    for item in well_formed(_list_all(source, Kind.NODES, cluster), "nodes", warn):
        if item["metadata"]["name"] in nodes:
            warn(f"node {item['metadata']['name']} listed twice: the first kept")
            continue
        facts = node_facts(cast(Node, item), pricing, warn)
        if facts is not None:
            nodes[facts.name] = facts

    node_metrics = _optional(source, Kind.NODE_METRICS, cluster, warn, "node usage unknown")
    if node_metrics is not None:
        measured: set[str] = set()
        for item in well_formed(node_metrics, "node metrics", warn):
            name = str(item["metadata"]["name"])
            if name in nodes and name not in measured:
                measured.add(name)
                nodes[name].usage = usage_of(item, f"metrics of node {name}", warn)

    owners = OwnerIndex()
    replicasets = _optional(
        source, Kind.REPLICASETS, cluster, warn, "Deployments resolved from ReplicaSet names"
    )
    if replicasets is not None:
        owners.add_replicasets(well_formed(replicasets, "replicasets", warn))
    del replicasets
    jobs = _optional(source, Kind.JOBS, cluster, warn, "CronJobs resolved from Job names")
    if jobs is not None:
        owners.add_jobs(well_formed(jobs, "jobs", warn))
    del jobs

    quotas: list[QuotaRecord] = []
    quota_names: set[tuple[str, str]] = set()
    listed = _optional(source, Kind.RESOURCEQUOTAS, cluster, warn, "quotas not recorded") or ()
    for item in well_formed(listed, "resourcequotas", warn):
        records = quota_records(item, warn)
        key = (str(item["metadata"].get("namespace")), str(item["metadata"]["name"]))
        if key in quota_names:
            warn(f"resourcequota {key[0]}/{key[1]} listed twice: the first kept")
            continue
        quota_names.add(key)
        quotas.extend(records)

    assets = _asset_pass(source, cluster, warn)
    hpas = hpa_records(
        _optional(source, Kind.HORIZONTALPODAUTOSCALERS, cluster, warn, "autoscalers not recorded") or (),
        warn,
    )

    metrics: dict[tuple[str, str], dict[str, Resources]] | None = None
    try:
        metrics = _metrics(source, cluster, warn)
    except KindUnavailable as exc:
        warn(f"{exc}; usage unknown (is metrics-server installed?)")

    def fold_pods(pages: Iterator[list[RawObject]]) -> PodPass:
        attached = assets()  # afresh on a restart, like the pass
        folded = PodPass(nodes=nodes, owners=owners, metrics=metrics, warn=warn, assets=attached)
        for page in pages:
            folded.add_page(page)
        return folded

    pods = _listed(source, Kind.PODS, fold_pods, _expired(cluster, Kind.PODS))
    volume_records, lb_records, shares = pods.assets.records() if pods.assets else ([], [], [])

    return Snapshot(
        cluster=cluster,
        taken_at=taken_at,
        source=source_name,
        usage_known=metrics is not None,
        namespaces=list(namespaces.values()),
        workload_labels=pods.workload_labels,
        nodes=pods.finish_nodes(),
        containers=pods.containers(),
        pods=pods.pods,
        quotas=quotas,
        volumes=volume_records,
        load_balancers=lb_records,
        assets=shares,
        hpas=hpas,
        warnings=warn.as_list(),
        duration_seconds=time.monotonic() - started,
    )


def _asset_pass(source: Source, cluster: str, warn: Callable[[str], None]) -> Callable[[], AssetPass]:
    """List what volumes and load balancers need (each kind optional); return a maker of the pass."""
    listed = _optional(source, Kind.STORAGECLASSES, cluster, warn, "volumes priced by their provisioner")
    classes = None if listed is None else storage_classes(listed, warn)
    listed = _optional(source, Kind.PERSISTENTVOLUMES, cluster, warn, "volumes not billed")
    found_volumes = None if listed is None else volumes(listed, classes, warn)
    listed = _optional(source, Kind.PERSISTENTVOLUMECLAIMS, cluster, warn, "volumes held by their claimRef")
    found_claims = None if listed is None else claims(listed, warn)
    listed = _optional(source, Kind.SERVICES, cluster, warn, "load balancers not billed")
    services = load_balancers(listed or (), warn)
    del listed
    return lambda: AssetPass(found_volumes, found_claims, services, warn)


def _metrics(
    source: Source, cluster: str, warn: Callable[[str], None]
) -> dict[tuple[str, str], dict[str, Resources]]:
    exhausted = KindUnavailable(Kind.POD_METRICS, 410, "pod metrics: list kept expiring")
    return _listed(source, Kind.POD_METRICS, lambda pages: pod_metrics_map(pages, warn), exhausted)


@dataclass(frozen=True, slots=True)
class CollectResult:
    cluster: str
    taken_at: datetime
    snapshot_id: int
    replaced: bool
    nodes: int
    pods: int
    pending_pods: int
    containers: int
    warnings: list[str]
    duration_seconds: float


def now_utc() -> datetime:
    """Return the current UTC time to the whole second (snapshot timestamps)."""
    return datetime.now(UTC).replace(microsecond=0)


def collect_once(
    source: Source,
    engine: Engine,
    *,
    cluster: str,
    config: Config,
    taken_at: datetime | None = None,
    source_name: str = "kubernetes",
    notes: Sequence[str] = (),
) -> CollectResult:
    """Take one snapshot from ``source`` and write it in one transaction; return what landed."""
    at = taken_at or now_utc()
    started = time.monotonic()
    snap = build_snapshot(
        source, cluster=cluster, config=config, taken_at=at, source_name=source_name, notes=notes
    )
    with translate_db_errors(engine.url), write_transaction(engine) as conn:
        written: WriteResult = write_snapshot(
            conn, snap, nominal_interval_seconds=config.collection.interval_seconds
        )
    return CollectResult(
        cluster=cluster,
        taken_at=at,
        snapshot_id=written.snapshot_id,
        replaced=written.replaced,
        nodes=len(snap.nodes),
        pods=sum(1 for p in snap.pods if p.node is not None),
        pending_pods=sum(1 for p in snap.pods if p.node is None),
        containers=sum(c.replicas for c in snap.containers if c.container != POD_OVERHEAD_CONTAINER),
        warnings=snap.warnings,
        duration_seconds=time.monotonic() - started,
    )
