"""One collection: list everything from a source, normalize it into a snapshot, write it whole."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from capacity.config import Config
from capacity.records import POD_OVERHEAD_CONTAINER, NamespaceRecord, QuotaRecord, Resources, Snapshot
from capacity.store.engine import translate_db_errors, write_transaction
from capacity.store.snapshots import WriteResult, write_snapshot
from collectors.normalize import (
    NodeFacts,
    PodPass,
    Warnings,
    namespace_record,
    node_facts,
    pod_metrics_map,
    quota_records,
    usage_of,
)
from collectors.owners import OwnerIndex
from collectors.raw import well_formed
from collectors.source import ClusterUnreachable, Kind, KindUnavailable, ListExpired, RawObject, Source

MAX_LIST_RESTARTS = 3


def _list_all(source: Source, kind: Kind, cluster: str) -> list[RawObject]:
    for _ in range(MAX_LIST_RESTARTS + 1):
        items: list[RawObject] = []
        try:
            for page in source.pages(kind):
                items.extend(page)
        except ListExpired:
            continue
        return items
    raise ClusterUnreachable(
        f"cluster {cluster}: the {kind.label} list kept expiring ({MAX_LIST_RESTARTS + 1} tries)"
    )


def _optional(
    source: Source, kind: Kind, cluster: str, warn: Callable[[str], None], consequence: str
) -> list[RawObject] | None:
    try:
        return _list_all(source, kind, cluster)
    except KindUnavailable as exc:
        warn(f"{exc}; {consequence}")
        return None


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while pages are folded in.

    Decoded JSON holds no reference cycles, so reference counting frees every page; but
    the cyclic collector, triggered by the allocation count, would rescan every surviving
    record again and again (measured: 3.7x the time of the whole collection at 30,000 pods).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    with _cyclic_gc_paused():
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
        facts = node_facts(item, pricing, warn)
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

    metrics: dict[tuple[str, str], dict[str, Resources]] | None = None
    try:
        metrics = _metrics(source, cluster, warn)
    except KindUnavailable as exc:
        warn(f"{exc}; usage unknown (is metrics-server installed?)")

    for _attempt in range(MAX_LIST_RESTARTS + 1):
        pods = PodPass(nodes=nodes, owners=owners, metrics=metrics, warn=warn)
        try:
            for page in source.pages(Kind.PODS):
                pods.add_page(page)
        except ListExpired:
            continue
        break
    else:
        raise ClusterUnreachable(
            f"cluster {cluster}: the pods list kept expiring ({MAX_LIST_RESTARTS + 1} tries)"
        )

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
        warnings=warn.as_list(),
        duration_seconds=time.monotonic() - started,
    )


def _metrics(
    source: Source, cluster: str, warn: Callable[[str], None]
) -> dict[tuple[str, str], dict[str, Resources]]:
    for _ in range(MAX_LIST_RESTARTS + 1):
        try:
            return pod_metrics_map(source.pages(Kind.POD_METRICS), warn)
        except ListExpired:
            continue
    raise KindUnavailable(Kind.POD_METRICS, 410, "pod metrics: list kept expiring")


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
