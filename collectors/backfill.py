"""A backfill: snapshots of a cluster's past, rebuilt from Prometheus, written like live ones.

The range is cut into chunks (``chunk``, at most the points-per-series limit); every series
family is read for a chunk as one range query per family (at most ``max_in_flight`` at once),
then each instant of the chunk becomes the raw objects the API would have listed
(``collectors.prometheus.rebuild``) and takes the live collector's path: ``build_snapshot``
(normalization, pricing) and ``write_snapshot`` (one transaction per snapshot). Instants the
store holds already are skipped, so a backfill resumes where it stopped. After each chunk the
cluster is compacted as of the chunk's end, so history older than the raw retention is rolled
up before retention may delete it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from capacity.config import Config
from capacity.store.compaction import compact
from capacity.store.coverage import stored_coverage
from capacity.store.engine import translate_db_errors, write_transaction
from capacity.store.snapshots import write_snapshot
from collectors.collect import build_snapshot
from collectors.prometheus.client import (
    Labels,
    PrometheusClient,
    PrometheusUnreachable,
    QueryRejected,
    Series,
)
from collectors.prometheus.families import FAMILIES, Family
from collectors.prometheus.promql import MAX_POINTS, Selectors, chunks
from collectors.prometheus.rebuild import InstantSource, label_restorer
from collectors.source import CollectionStopped, SourceError

SOURCE_NAME = "prometheus"
# instants without any pod or node series: a gap in Prometheus' data (nothing is invented)
_PRESENCE = ("kube_pod_info", "kube_node_status_capacity")


@dataclass(slots=True)
class BackfillResult:
    cluster: str
    instants: int = 0  # instants in the range
    written: int = 0
    skipped: int = 0  # stored already
    gaps: int = 0  # no data in Prometheus at that instant
    series: int = 0  # series read (summed over chunks and families)
    queries: int = 0
    warnings: list[str] = field(default_factory=list)  # distinct, in order of first appearance
    duration_seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"cluster {self.cluster}: {self.written} snapshots written, {self.skipped} already stored, "
            f"{self.gaps} in gaps of the data skipped, {self.series:,} series read in {self.queries} "
            f"queries, {len(self.warnings)} distinct warnings, {self.duration_seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class Plan:
    start: datetime
    end: datetime
    step: timedelta
    chunk: timedelta = timedelta(hours=1)
    rate_window: timedelta = timedelta(minutes=5)


def instants(start: datetime, end: datetime, step: timedelta) -> tuple[datetime, datetime] | None:
    """Return the first and last step-aligned instant (UTC, from the epoch) in [start, end]."""
    seconds = step.total_seconds()
    first = -(-start.timestamp() // seconds) * seconds
    last = (end.timestamp() // seconds) * seconds
    if last < first:
        return None
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def _window(delta: timedelta) -> str:
    return f"{int(delta.total_seconds())}s"


def _read_chunk(
    client: PrometheusClient,
    selectors: Selectors,
    plan: Plan,
    lo: datetime,
    hi: datetime,
    pool: ThreadPoolExecutor,
) -> dict[str, dict[float, list[tuple[Labels, float]]]]:
    """Return per family, per instant (unix seconds), the series' labels and values."""

    def read(family: Family) -> tuple[str, dict[float, list[tuple[Labels, float]]]]:
        at: dict[float, list[tuple[Labels, float]]] = defaultdict(list)
        for series in _range_query(
            client, family, _Query(selectors, _window(plan.rate_window)), lo, hi, plan.step
        ):
            for stamp, value in series.points:
                at[stamp].append((series.labels, value))
        return family.name, at

    return dict(pool.map(read, FAMILIES))


# Prometheus' answers when a query is too big for it (--query.max-samples, --query.timeout)
_TOO_BIG = ("too many samples", "query timed out", "context deadline exceeded", "exceeded maximum resolution")


@dataclass(frozen=True, slots=True)
class _Query:
    selectors: Selectors
    window: str  # the rate window, e.g. "300s"
    namespaces: tuple[str, ...] | None = None  # only these namespaces' series (a split query)
    others: bool = False  # with namespaces: every namespace but these (what the list missed)

    def expr(self, family: Family) -> str:
        if self.namespaces is None:
            return family.query(self.selectors, self.window)
        narrowed = self.selectors.within("namespace", self.namespaces, exclude=self.others)
        return family.query(narrowed, self.window)


def _range_query(
    client: PrometheusClient, family: Family, query: _Query, lo: datetime, hi: datetime, step: timedelta
) -> list[Series]:
    """Return the family's series over [lo, hi]; a query too big for Prometheus is read in parts.

    A namespaced family is read namespace by namespace first (halves of the namespace list,
    and once the namespaces the list missed), so the parts keep the whole range; a family
    without namespaces, or a single namespace still too big, is read in halves of the range.
    """
    try:
        return client.query_range(query.expr(family), lo, hi, step)
    except QueryRejected as exc:
        if not any(reason in str(exc) for reason in _TOO_BIG):
            raise
        parts = _by_namespace(client, family, query, lo, hi, step)
        if parts is None:
            steps = int((hi - lo) / step)
            if steps < 1:
                raise
            middle = lo + (steps // 2) * step
            parts = [(query, lo, middle), (query, middle + step, hi)]
        return [series for part, a, b in parts for series in _range_query(client, family, part, a, b, step)]


# The namespaces a split query is cut by: one series each (read in halves of the range if need be).
_NAMESPACES = Family(
    "namespaces",
    lambda s, _window: " or ".join(
        f"group by (namespace) ({s(metric)})" for metric in ("kube_namespace_labels", "kube_pod_info")
    ),
    namespaced=False,
)


def _by_namespace(
    client: PrometheusClient, family: Family, query: _Query, lo: datetime, hi: datetime, step: timedelta
) -> list[tuple[_Query, datetime, datetime]] | None:
    """Return the namespace parts of a query too big, or None when it cannot be cut that way."""
    if not family.namespaced or query.others:
        return None
    if query.namespaces is None:  # the cluster's namespaces over the range (in parts if need be)
        found = _range_query(client, _NAMESPACES, replace(query, namespaces=None), lo, hi, step)
        names = tuple(sorted({s.labels["namespace"] for s in found if "namespace" in s.labels}))
        if len(names) < 2:
            return None
        rest = [(replace(query, namespaces=names, others=True), lo, hi)]  # normally nothing
    else:
        names, rest = query.namespaces, []
        if len(names) < 2:
            return None
    half = len(names) // 2
    return [
        (replace(query, namespaces=names[:half]), lo, hi),
        (replace(query, namespaces=names[half:]), lo, hi),
        *rest,
    ]


def backfill(
    client: PrometheusClient,
    engine: Engine,
    *,
    cluster: str,
    config: Config,
    plan: Plan,
    selectors: Selectors | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> BackfillResult:
    """Write the snapshots of ``cluster`` over the plan's range that the store lacks; return counts.

    Raises ``PrometheusUnreachable`` / ``QueryRejected`` (nothing of the failing chunk is written;
    chunks before it are kept, and a re-run resumes) and the store's errors.
    """
    started = time.monotonic()
    selectors = selectors or Selectors()
    result = BackfillResult(cluster=cluster)
    span = instants(plan.start, plan.end, plan.step)
    if span is None:
        return result
    first, last = span
    result.instants = int((last - first) / plan.step) + 1
    with translate_db_errors(engine.url), engine.connect() as conn:
        stored, rolled_hours = stored_coverage(conn, cluster, first, last)
    tasks = []
    for lo, hi in chunks(first, last, plan.step, span=plan.chunk, max_points=MAX_POINTS):
        todo = [lo + i * plan.step for i in range(int((hi - lo) / plan.step) + 1)]
        wanted = [t for t in todo if t not in stored and t.replace(minute=0, second=0) not in rolled_hours]
        tasks.append((lo, hi, len(todo), wanted))
    writer = _Writer(engine, cluster, config, plan, label_restorer(_attribution_keys(config)), result, stop)
    done = 0
    # the next chunk is read while this one is written: the wait for Prometheus overlaps the work
    with (
        ThreadPoolExecutor(max_workers=max(1, client.access.max_in_flight)) as pool,
        ThreadPoolExecutor(1) as ahead,
    ):
        reads = iter([(lo, hi) for lo, hi, _, wanted in tasks if wanted])

        def read_next() -> Future[dict[str, dict[float, list[tuple[Labels, float]]]]] | None:
            span = next(reads, None)
            return None if span is None else ahead.submit(_read_chunk, client, selectors, plan, *span, pool)

        pending = read_next()
        for _lo, hi, count, wanted in tasks:
            result.skipped += count - len(wanted)
            if wanted:
                assert pending is not None
                read = pending.result()
                pending = read_next()
                writer.write(read, wanted)
                with translate_db_errors(engine.url):
                    compact(engine, retention=config.retention, now=hi + plan.step, clusters=(cluster,))
            done += count
            if progress is not None:
                progress(done, result.instants)
    with translate_db_errors(engine.url):
        compact(engine, retention=config.retention, clusters=(cluster,))
    result.queries = client.queries
    result.duration_seconds = time.monotonic() - started
    return result


@dataclass
class _Writer:
    """Writes a chunk's instants as snapshots, through the live collector's path."""

    engine: Engine
    cluster: str
    config: Config
    plan: Plan
    restore: dict[str, str]
    result: BackfillResult
    stop: threading.Event | None
    seen_warnings: set[str] = field(default_factory=set)

    def write(
        self, read: dict[str, dict[float, list[tuple[Labels, float]]]], wanted: Sequence[datetime]
    ) -> None:
        result = self.result
        result.series += sum(
            len({id(lab) for rows in at.values() for lab, _ in rows}) for at in read.values()
        )
        missing = frozenset(name for name, at in read.items() if not at)
        notes = [
            f"Prometheus has no {family.name} series: {family.missing}"
            for family in FAMILIES
            if family.name in missing and family.missing and not family.required
        ]
        classes = {lab.get("storageclass", "") for rows in read.get("kube_storageclass_info", {}).values()
                   for lab, _ in rows}  # fmt: skip
        unnamed = sorted(c for c in classes if c and c not in self.config.pricing.storage_classes)
        if unnamed:  # kube-state-metrics has no StorageClass parameters (an io2 or pd-ssd class's type)
            notes.append(
                f"storage classes {', '.join(unnamed[:5])}{' ...' if len(unnamed) > 5 else ''} priced as "
                "their provisioner's default disk type: kube-state-metrics exposes no StorageClass "
                "parameters (name them in pricing.storage_classes)"
            )
        for at in wanted:
            if self.stop is not None and self.stop.is_set():
                raise CollectionStopped("backfill stopped by a signal; a re-run resumes where it stopped")
            stamp = at.timestamp()
            samples = {name: rows.get(stamp, []) for name, rows in read.items()}
            if not any(samples[name] for name in _PRESENCE):
                result.gaps += 1
                continue
            source = InstantSource(samples, restore=self.restore, missing=missing)
            try:
                snap = build_snapshot(
                    source,
                    cluster=self.cluster,
                    config=self.config,
                    taken_at=at,
                    source_name=SOURCE_NAME,
                    notes=notes,
                )
            except SourceError as exc:
                raise PrometheusUnreachable(
                    f"cluster {self.cluster} at {at:%Y-%m-%dT%H:%M:%SZ}: {exc}"
                ) from None
            with translate_db_errors(self.engine.url), write_transaction(self.engine) as conn:
                write_snapshot(conn, snap, nominal_interval_seconds=self.plan.step.total_seconds())
            result.written += 1
            for warning in snap.warnings:
                if warning not in self.seen_warnings:
                    self.seen_warnings.add(warning)
                    result.warnings.append(warning)


def _attribution_keys(config: Config) -> list[str]:
    rules = [config.attribution.team, *config.attribution.dimensions.values()]
    keys = [key for rule in rules for key in rule.label_keys]
    if config.pricing.node_price_label:
        keys.append(config.pricing.node_price_label)
    return keys
