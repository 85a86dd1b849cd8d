"""Hourly and daily rollups, retention, and window reads that combine raw rows with rollups.

A raw sample at ``taken_at`` stands for its snapshot's ``interval_seconds`` and belongs to the
bucket that holds ``taken_at`` (hours [h, h+1h), days [d, d+1d), UTC). Rollups store the samples'
values multiplied by those seconds (core-seconds, byte-seconds, money), so sums add across
buckets and tiers; maxima take the maximum; histograms merge by adding weights.

``compact`` rolls every complete hour and day of each cluster (complete: strictly before the
hour or day of the cluster's newest snapshot), records how far in ``rollup_watermarks``, then
applies the retention tiers; it never deletes a row that is not already summed in a coarser tier.

``container_window`` / ``node_window`` read a window [start, end) from daily rollups for the
whole days, hourly rollups for the whole hours left, raw rows for the rest: each second once,
and the work grows with workloads × days, not with samples. Where a finer tier has been purged
by retention, the partial hour or day at a window's edge is no longer available and is left out.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

import pandas as pd
from sqlalchemy import (
    Connection,
    Double,
    Engine,
    FromClause,
    Integer,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
    values,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ColumnElement

from capacity.config import Retention
from capacity.db import models as m
from capacity.db.engine import write_transaction as _transaction

Tier = Literal["hour", "day"]
HOUR: Tier = "hour"
DAY: Tier = "day"
_STEP = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
Range = tuple[datetime, datetime]
T = TypeVar("T")
# cluster id, label (a bucket start, or a period's number), lo, hi
Span = tuple[int, datetime | int, datetime, datetime]


def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


CS = _table(m.ContainerSample)
NS = _table(m.NodeSample)
QS = _table(m.QuotaSample)
SNAP = _table(m.Snapshot)
CR = _table(m.ContainerRollup)
NR = _table(m.NodeRollup)
CLR = _table(m.ClusterRollup)
WM = _table(m.RollupWatermark)


# --- bucket math (Python, so the SQL stays the same on SQLite and PostgreSQL) -------------------


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value.astimezone(UTC)


def floor_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the start of the hour or day (UTC) that holds ``value``."""
    value = _utc(value).replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if tier == DAY else value


def ceil_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the first hour or day boundary (UTC) at or after ``value``."""
    floor = floor_bucket(value, tier)
    return floor if floor == _utc(value) else floor + _STEP[tier]


def _subtract(ranges: Iterable[Range], cut: Iterable[Range]) -> list[Range]:
    """Return ``ranges`` minus ``cut`` as sorted half-open ranges."""
    result = sorted(r for r in ranges if r[0] < r[1])
    for lo, hi in cut:
        pieces: list[Range] = []
        for a, b in result:
            if hi <= a or b <= lo:
                pieces.append((a, b))
                continue
            if a < lo:
                pieces.append((a, lo))
            if hi < b:
                pieces.append((hi, b))
        result = pieces
    return result


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Which tier serves which part of a window, for one cluster; the parts partition the window."""

    days: tuple[Range, ...]
    hours: tuple[Range, ...]
    raw: tuple[Range, ...]


def plan_window(
    start: datetime, end: datetime, *, hour_until: datetime | None, day_until: datetime | None
) -> WindowPlan:
    """Return the daily, hourly and raw ranges that together cover [start, end) exactly once.

    Whole days before ``day_until`` come from daily rollups, whole hours before ``hour_until``
    not in those days from hourly rollups, everything else from raw samples.
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        return WindowPlan((), (), ())
    days: list[Range] = []
    if day_until is not None:
        lo, hi = ceil_bucket(start, DAY), min(floor_bucket(end, DAY), floor_bucket(day_until, DAY))
        if lo < hi:
            days.append((lo, hi))
    hours: list[Range] = []
    if hour_until is not None:
        lo, hi = ceil_bucket(start, HOUR), min(floor_bucket(end, HOUR), floor_bucket(hour_until, HOUR))
        hours = _subtract([(lo, hi)], days)
    raw = _subtract([(start, end)], [*days, *hours])
    return WindowPlan(tuple(days), tuple(hours), tuple(raw))


# --- what a rollup holds: one row-level expression per column, and how columns combine ----------

Agg = Literal["sum", "max"]
_Exprs = dict[str, ColumnElement[Any]]


def _hourly_money(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return value * SNAP.c.interval_seconds / 3600.0


def _container_exprs() -> _Exprs:
    seconds = SNAP.c.interval_seconds
    known = CS.c.cpu_usage_sum.is_not(None)

    def when_known(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((known, value), else_=0.0)

    return {
        "samples": literal(1),
        "seconds": seconds,
        "replica_seconds": CS.c.replicas * seconds,
        "cpu_request_cs": CS.c.cpu_request * seconds,
        "memory_request_bs": CS.c.memory_request * seconds,
        "gpu_request_s": CS.c.gpu_request * seconds,
        "usage_replica_seconds": when_known(CS.c.usage_replicas * seconds),
        "cpu_usage_cs": when_known(CS.c.cpu_usage_sum * seconds),
        "memory_usage_bs": when_known(func.coalesce(CS.c.memory_usage_sum, 0.0) * seconds),
        "cpu_request_known_cs": when_known(CS.c.cpu_request * seconds),
        "memory_request_known_bs": when_known(CS.c.memory_request * seconds),
        "cpu_allocated_cs": CS.c.cpu_allocated * seconds,
        "memory_allocated_bs": CS.c.memory_allocated * seconds,
        "cpu_cost": _hourly_money(CS.c.cpu_cost_hourly),
        "memory_cost": _hourly_money(CS.c.memory_cost_hourly),
        "gpu_cost": _hourly_money(CS.c.gpu_cost_hourly),
        "cpu_usage_max": CS.c.cpu_usage_max,
        "memory_usage_max": CS.c.memory_usage_max,
        "memory_limit_max": case(
            (and_(CS.c.memory_limit.is_not(None), CS.c.replicas > 0), CS.c.memory_limit / CS.c.replicas)
        ),
        "restarts_max": CS.c.restarts,
        "oom_kills_max": CS.c.oom_kills,
        "pending_replica_seconds": CS.c.pending_replicas * seconds,
        "pending_cpu_cs": CS.c.pending_cpu_request * seconds,
        "pending_memory_bs": CS.c.pending_memory_request * seconds,
    }


def _node_exprs() -> _Exprs:
    seconds = SNAP.c.interval_seconds
    known = NS.c.cpu_usage.is_not(None)

    def when_known(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((known, value), else_=0.0)

    def idle(capacity: ColumnElement[Any], taken: ColumnElement[Any], price: ColumnElement[Any]) -> Any:
        # Per node and per sample: an overcommitted node has no idle, never a negative one.
        hourly = (capacity - taken) * price
        return case((hourly > 0.0, _hourly_money(hourly)), else_=0.0)

    return {
        "samples": literal(1),
        "seconds": seconds,
        "cpu_capacity_cs": NS.c.cpu_capacity * seconds,
        "memory_capacity_bs": NS.c.memory_capacity * seconds,
        "gpu_capacity_s": NS.c.gpu_capacity * seconds,
        "cpu_allocatable_cs": NS.c.cpu_allocatable * seconds,
        "memory_allocatable_bs": NS.c.memory_allocatable * seconds,
        "cpu_requested_cs": NS.c.cpu_requested * seconds,
        "memory_requested_bs": NS.c.memory_requested * seconds,
        "gpu_requested_s": NS.c.gpu_requested * seconds,
        "usage_seconds": when_known(seconds),
        "cpu_usage_cs": when_known(NS.c.cpu_usage * seconds),
        "memory_usage_bs": when_known(func.coalesce(NS.c.memory_usage, 0.0) * seconds),
        "cpu_allocated_cs": NS.c.cpu_allocated * seconds,
        "memory_allocated_bs": NS.c.memory_allocated * seconds,
        "cpu_overcommit_cs": NS.c.cpu_overcommit * seconds,
        "memory_overcommit_bs": NS.c.memory_overcommit * seconds,
        "cost": _hourly_money(NS.c.hourly_price),
        "cpu_cost": _hourly_money(NS.c.cpu_capacity * NS.c.cpu_core_hourly),
        "memory_cost": _hourly_money(NS.c.memory_capacity * NS.c.memory_byte_hourly),
        "gpu_cost": _hourly_money(NS.c.gpu_capacity * NS.c.gpu_hourly),
        "cpu_idle_cost": idle(NS.c.cpu_capacity, NS.c.cpu_allocated, NS.c.cpu_core_hourly),
        "memory_idle_cost": idle(NS.c.memory_capacity, NS.c.memory_allocated, NS.c.memory_byte_hourly),
        "gpu_idle_cost": idle(NS.c.gpu_capacity, NS.c.gpu_requested, NS.c.gpu_hourly),
    }


@dataclass(frozen=True)
class _Grain:
    raw: Table
    rollup: Table
    keys: tuple[str, ...]
    exprs: _Exprs  # row-level value of each rollup column, over a raw sample joined to its snapshot
    known: ColumnElement[bool]  # raw samples whose usage (and histogram) is known
    hist: bool

    @property
    def columns(self) -> list[tuple[str, Agg]]:
        return [(name, "max" if name.endswith("_max") else "sum") for name in self.exprs]


CONTAINERS = _Grain(
    CS, CR, ("workload_id", "container"), _container_exprs(), CS.c.cpu_usage_sum.is_not(None), True
)
NODES = _Grain(NS, NR, ("node_id",), _node_exprs(), NS.c.cpu_usage.is_not(None), False)


def _cluster_exprs() -> _Exprs:
    # A snapshot's seconds spread over its node samples sum back to the snapshot's seconds.
    seconds = SNAP.c.interval_seconds
    share = case((SNAP.c.node_count > 0, seconds / sql_cast(SNAP.c.node_count, Double())), else_=0.0)
    exprs = _node_exprs()
    return {"samples": exprs.pop("samples"), "seconds": share, "node_seconds": exprs.pop("seconds"), **exprs}


CLUSTERS = _Grain(NS, CLR, (), _cluster_exprs(), NS.c.cpu_usage.is_not(None), False)
CLUSTER_COLUMNS: tuple[str, ...] = tuple(CLUSTERS.exprs)

CONTAINER_COLUMNS: tuple[str, ...] = tuple(CONTAINERS.exprs)
NODE_COLUMNS: tuple[str, ...] = tuple(NODES.exprs)


def _range_conditions(
    cluster: ColumnElement[Any], time: ColumnElement[Any], ranges: dict[int, Sequence[Range]]
) -> list[ColumnElement[bool]]:
    """Return one condition per distinct range, each over every cluster that reads that range."""
    by_range: dict[Range, list[int]] = defaultdict(list)
    for cid, cluster_ranges in ranges.items():
        for span in cluster_ranges:
            by_range[span].append(cid)
    return [
        and_(cluster.in_(sorted(cids)), time >= lo, time < hi) for (lo, hi), cids in sorted(by_range.items())
    ]


@dataclass(frozen=True)
class _Scope:
    """Which rows a source reads: time ranges per cluster, unlabelled (a window), or labelled spans.

    With spans, every row comes out labelled (``bucket_start``) with the label of the span that
    holds it: a rollup bucket when compacting, a report period when a window is read per period.
    """

    ranges: dict[int, Sequence[Range]] | None = None
    spans: Sequence[Span] | None = None

    @classmethod
    def bucketed(cls, cluster_id: int, starts: Sequence[datetime], tier: Tier) -> _Scope:
        return cls(spans=[(cluster_id, b, b, b + _STEP[tier]) for b in starts])

    def source(
        self, table: Table, tier: Tier | None
    ) -> tuple[list[ColumnElement[Any]], FromClause, list[ColumnElement[bool]]] | None:
        """Return (leading columns, FROM clause, WHERE conditions), or None when nothing is read."""
        time = table.c.taken_at if tier is None else table.c.bucket_start
        where: list[ColumnElement[bool]] = [] if tier is None else [table.c.tier == tier]
        lead: list[ColumnElement[Any]] = []
        source: FromClause = table
        if self.spans is not None:
            if not self.spans:
                return None
            # A VALUES list, not a UNION of SELECTs: SQLite caps compound SELECTs at 500 terms.
            name = f"spans_{tier or 'raw'}"
            spans = (
                values(
                    sql_column("cluster_id", Integer()),
                    sql_column("label", Integer() if isinstance(self.spans[0][1], int) else m.UTCDateTime()),
                    sql_column("lo", m.UTCDateTime()),
                    sql_column("hi", m.UTCDateTime()),
                    name=name,
                )
                .data(list(self.spans))
                .cte(name)
            )
            on = and_(table.c.cluster_id == spans.c.cluster_id, time >= spans.c.lo, time < spans.c.hi)
            source = spans.join(table, on)
            lead = [spans.c.label.label("bucket_start")]
        else:
            conditions = _range_conditions(table.c.cluster_id, time, self.ranges or {})
            if not conditions:
                return None
            where.append(or_(*conditions))
        if tier is None:
            source = source.join(SNAP, SNAP.c.id == table.c.snapshot_id)
        return lead, source, where


def _rows(grain: _Grain, tier: Tier | None, scope: _Scope) -> Select[Any] | None:
    """Return one row per raw sample (tier None) or rollup row in scope, in rollup units."""
    table = grain.raw if tier is None else grain.rollup
    found = scope.source(table, tier)
    if found is None:
        return None
    lead, source, where = found
    values: list[ColumnElement[Any]]
    if tier is None:
        values = [expr.label(name) for name, expr in grain.exprs.items()]
    else:
        values = [table.c[name] for name in grain.exprs]
    keys = [table.c[key] for key in grain.keys]
    return select(*lead, table.c.cluster_id, *keys, *values).select_from(source).where(*where)


def _hist_rows(tier: Tier | None, scope: _Scope) -> Select[Any] | None:
    """Return (…, cluster_id, workload_id, container, scale, histogram) rows: weight × scale counts."""
    table = CS if tier is None else CR
    found = scope.source(table, tier)
    if found is None:
        return None
    lead, source, where = found
    if tier is None:
        scale: ColumnElement[Any] = SNAP.c.interval_seconds
        where.append(CONTAINERS.known)
    else:
        scale = literal(1.0)
    return (
        select(
            *lead,
            table.c.cluster_id,
            table.c.workload_id,
            table.c.container,
            scale.label("scale"),
            table.c.cpu_usage_hist,
        )
        .select_from(source)
        .where(*where)
    )


def _aggregate(grain: _Grain, sources: Sequence[Select[Any]], *, bucketed: bool = False) -> Select[Any]:
    rows = (sources[0] if len(sources) == 1 else union_all(*sources)).subquery("rows")
    group = [rows.c.cluster_id, *(rows.c[key] for key in grain.keys)]
    if bucketed:
        group.insert(0, rows.c.bucket_start)
    return select(
        *group,
        *(
            (func.max(rows.c[name]) if how == "max" else func.sum(rows.c[name])).label(name)
            for name, how in grain.columns
        ),
    ).group_by(*group)


HistKey = tuple[Any, ...]  # (cluster_id, workload_id, container), led by bucket_start when bucketed


def _merged_hists(conn: Connection, sources: Sequence[Select[Any]]) -> dict[HistKey, dict[int, float]]:
    """Return {key: merged histogram}, each row's weights multiplied by its scale.

    The database unpacks the JSON and adds the weights (SQLite's ``json_each``, PostgreSQL's
    ``jsonb_each_text``), so Python sees one row per key and bucket, not one per sample.
    """
    merged: dict[HistKey, dict[int, float]] = defaultdict(dict)
    if not sources:
        return merged
    rows = (sources[0] if len(sources) == 1 else union_all(*sources)).subquery("hist_rows")
    keys = [c for c in rows.c if c.name not in ("scale", "cpu_usage_hist")]
    if conn.dialect.name == "postgresql":
        each = func.jsonb_each_text(rows.c.cpu_usage_hist).table_valued("key", "value").alias("bucket")
        weight: ColumnElement[Any] = sql_cast(each.c.value, Double())
    else:
        each = func.json_each(rows.c.cpu_usage_hist).table_valued("key", "value").alias("bucket")
        weight = each.c.value
    query = (
        select(*keys, each.c.key, func.sum(weight * rows.c.scale))
        .select_from(rows.join(each, true()))
        .group_by(*keys, each.c.key)
    )
    for *key, bucket, total in conn.execute(query):
        merged[tuple(key)][int(bucket)] = float(total)
    return merged


# --- compaction -------------------------------------------------------------------------------

# Input rows (samples, or hourly rollup rows) summed by one statement: many small buckets go
# together, a big cluster's buckets go one by one, and memory stays bounded either way.
ROLL_BATCH_ROWS = 50_000
# Time spans one statement carries (4 bound parameters each): well under SQLite's 32,766 and
# PostgreSQL's 65,535 parameters. Compaction batches and per-period reads are cut to fit.
MAX_SPANS = 1_000
COMPOUND_SELECTS = 400  # SELECTs per UNION ALL: SQLite refuses more than 500


@dataclass(frozen=True, slots=True)
class CompactResult:
    """What one ``compact`` run did."""

    clusters: int
    hours_rolled: int  # (cluster, hour) buckets computed
    days_rolled: int  # (cluster, day) buckets computed
    rollup_rows: int  # container and node rollup rows written
    deleted: dict[str, int] = field(default_factory=dict)  # table (rollups: "table:tier") -> rows
    late_hours: int = 0  # (cluster, hour) buckets rolled again for snapshots that came late


def _watermark(conn: Connection, cid: int, tier: Tier) -> datetime | None:
    value = conn.execute(
        select(WM.c.complete_until).where(WM.c.cluster_id == cid, WM.c.tier == tier)
    ).scalar()
    return cast(datetime | None, value)


def _set_watermark(conn: Connection, cid: int, tier: Tier, until: datetime) -> None:
    # Insert-if-missing, then raise: two compactions that began on the same stale read (which
    # the cluster row lock and SQLite's write lock prevent) would still keep the later mark.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {"cluster_id": cid, "tier": tier, "complete_until": until}
    conn.execute(dialect.insert(WM).on_conflict_do_nothing(), row)
    conn.execute(
        update(WM)
        .where(WM.c.cluster_id == cid, WM.c.tier == tier, WM.c.complete_until < until)
        .values(complete_until=until)
    )


def _lock_cluster(conn: Connection, cid: int) -> None:
    # Serializes compactions of one cluster on PostgreSQL; NO KEY UPDATE leaves collectors free
    # to insert rows that reference the cluster. SQLite serializes writers by itself.
    table = _table(m.Cluster)
    conn.execute(select(table.c.id).where(table.c.id == cid).with_for_update(key_share=True)).all()


def _batches(weights: dict[datetime, int]) -> Iterator[list[datetime]]:
    """Yield consecutive runs of at most MAX_SPANS buckets whose weights stay within ROLL_BATCH_ROWS."""
    batch: list[datetime] = []
    total = 0
    for bucket in sorted(weights):
        if batch and (total + weights[bucket] > ROLL_BATCH_ROWS or len(batch) >= MAX_SPANS):
            yield batch
            batch, total = [], 0
        batch.append(bucket)
        total += weights[bucket]
    if batch:
        yield batch


def _roll(conn: Connection, cid: int, tier: Tier, starts: list[datetime]) -> int:
    """Replace the rollups of one cluster's consecutive ``tier`` buckets; return rows written."""
    for table in (CR, NR, CLR):
        conn.execute(
            delete(table).where(
                table.c.tier == tier,
                table.c.cluster_id == cid,
                table.c.bucket_start >= starts[0],
                table.c.bucket_start < starts[-1] + _STEP[tier],
            )
        )
    scope = _Scope.bucketed(cid, starts, tier)
    source_tier: Tier | None = None if tier == HOUR else HOUR
    written = 0
    for grain in (CONTAINERS, NODES, CLUSTERS):
        source = _rows(grain, source_tier, scope)
        assert source is not None
        rows = [dict(row._mapping) for row in conn.execute(_aggregate(grain, [source], bucketed=True))]
        if not rows:
            continue
        hist_source = _hist_rows(source_tier, scope) if grain.hist else None
        hists = _merged_hists(conn, [hist_source] if hist_source is not None else [])
        for row in rows:
            row["tier"] = tier
            if grain.hist:
                key = (row["bucket_start"], cid, row["workload_id"], row["container"])
                row["cpu_usage_hist"] = {str(k): v for k, v in sorted(hists.get(key, {}).items())}
        conn.execute(insert(grain.rollup), rows)
        written += len(rows)
    return written


def _late_buckets(
    conn: Connection,
    cid: int,
    tier: Tier,
    counted: dict[datetime, int],
    since: datetime,
    until: datetime | None,
) -> list[datetime]:
    """Return the rolled-up ``tier`` buckets in [since, until) with fewer node samples than ``counted``.

    ``counted`` holds the node samples per bucket that its source holds now (snapshots for
    hours, hourly rollups for days); a bucket rolled up before a late snapshot arrived holds fewer.
    """
    if until is None or until <= since:
        return []
    rolled = {
        floor_bucket(start, tier): int(samples)
        for start, samples in conn.execute(
            select(CLR.c.bucket_start, CLR.c.samples).where(
                CLR.c.tier == tier,
                CLR.c.cluster_id == cid,
                CLR.c.bucket_start >= since,
                CLR.c.bucket_start < until,
            )
        )
    }
    # more than rolled: a late arrival; fewer is retention at work on the oldest bucket
    return sorted(b for b, n in counted.items() if since <= b < until and n > rolled.get(b, 0))


def _roll_hours(conn: Connection, cid: int, raw_since: datetime) -> tuple[int, int, int]:
    """Roll up the complete hours not rolled yet, and roll again those a late snapshot joined.

    ``raw_since``: raw rows before it may be gone (retention), so an hour before it is never
    rolled again (its late snapshots stay out of the rollups, and retention deletes them).
    Returns (hours, rows written, late hours).
    """
    _lock_cluster(conn, cid)
    oldest, newest = conn.execute(
        select(func.min(SNAP.c.taken_at), func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid)
    ).one()
    if newest is None:
        return 0, 0, 0
    until = floor_bucket(newest, HOUR)  # the newest snapshot's hour is still filling
    rolled_until = _watermark(conn, cid, HOUR)
    since = rolled_until or floor_bucket(oldest, HOUR)
    # A snapshot written after its hour was rolled up (a late collector, a backfill): roll the
    # hour again while all its raw rows are still kept, and its day with it (_roll_days).
    horizon = floor_bucket(raw_since, HOUR) + _STEP[HOUR]  # hours that retention has not touched
    weights: dict[datetime, int] = defaultdict(int)
    samples: dict[datetime, int] = defaultdict(int)
    for taken, nodes, containers in conn.execute(
        select(SNAP.c.taken_at, SNAP.c.node_count, SNAP.c.container_count).where(
            SNAP.c.cluster_id == cid, SNAP.c.taken_at >= min(since, horizon), SNAP.c.taken_at < until
        )
    ):
        bucket = floor_bucket(taken, HOUR)
        samples[bucket] += int(nodes)
        if taken >= since:
            weights[bucket] += 1 + nodes + containers
    late = _late_buckets(conn, cid, HOUR, samples, horizon, rolled_until)
    for bucket in late:
        weights[bucket] = 1
    written = sum(_roll(conn, cid, HOUR, batch) for batch in _batches(weights))
    _set_watermark(conn, cid, HOUR, until)
    return len(weights), written, len(late)


def _roll_days(conn: Connection, cid: int, raw_since: datetime) -> tuple[int, int]:
    _lock_cluster(conn, cid)
    hours_until = _watermark(conn, cid, HOUR)
    if hours_until is None:
        return 0, 0
    until = floor_bucket(hours_until, DAY)  # days whose every hour is rolled up
    newest = conn.execute(select(func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid)).scalar()
    if newest is not None:
        until = min(until, floor_bucket(newest, DAY))
    since = _watermark(conn, cid, DAY)
    # days rolled up before one of their hours was rolled again (see _roll_hours)
    horizon = floor_bucket(raw_since, DAY)
    hourly: dict[datetime, int] = defaultdict(int)
    for start, samples in conn.execute(
        select(CLR.c.bucket_start, CLR.c.samples).where(
            CLR.c.tier == HOUR, CLR.c.cluster_id == cid, CLR.c.bucket_start >= horizon
        )
    ):
        hourly[floor_bucket(start, DAY)] += int(samples)
    late = _late_buckets(conn, cid, DAY, hourly, horizon, since)
    if since is not None and until <= since and not late:
        return 0, 0  # the usual case after a collection: no new complete day
    weights: dict[datetime, int] = defaultdict(int)
    for table in (CR, NR):
        query = select(table.c.bucket_start, func.count()).where(
            table.c.tier == HOUR, table.c.cluster_id == cid, table.c.bucket_start < until
        )
        if since is not None:
            query = query.where(table.c.bucket_start >= since)
        for start, rows in conn.execute(query.group_by(table.c.bucket_start)):
            weights[floor_bucket(start, DAY)] += int(rows)
    for day in late:
        weights[day] = max(weights[day], 1)
    written = sum(_roll(conn, cid, DAY, batch) for batch in _batches(weights))
    _set_watermark(conn, cid, DAY, until)
    return len(weights), written


def _apply_retention(
    conn: Connection, cid: int, retention: Retention, now: datetime, deleted: dict[str, int]
) -> None:
    def count(key: str, rows: int) -> None:
        deleted[key] = deleted.get(key, 0) + max(rows, 0)

    _lock_cluster(conn, cid)
    hours_until = _watermark(conn, cid, HOUR)
    days_until = _watermark(conn, cid, DAY)
    if hours_until is not None:
        # Raw rows go only once they are summed in hourly rollups.
        cutoff = min(now - timedelta(days=retention.raw_days), hours_until)
        pods = _table(m.Pod)
        keep = select(pods.c.snapshot_id).where(pods.c.cluster_id == cid)
        newest = select(func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid).scalar_subquery()
        for name, table in (("container_samples", CS), ("node_samples", NS), ("quota_samples", QS)):
            result = conn.execute(
                delete(table).where(
                    table.c.cluster_id == cid, table.c.taken_at < cutoff, table.c.snapshot_id.not_in(keep)
                )
            )
            count(name, result.rowcount)
        result = conn.execute(
            delete(SNAP).where(
                SNAP.c.cluster_id == cid,
                SNAP.c.taken_at < cutoff,
                SNAP.c.taken_at < newest,
                SNAP.c.id.not_in(keep),
            )
        )
        count("snapshots", result.rowcount)
    if days_until is not None:
        # Hourly rollups go only once their days are rolled up.
        cutoff = min(floor_bucket(now - timedelta(days=retention.hourly_days), HOUR), days_until)
        for table in (CR, NR, CLR):
            result = conn.execute(
                delete(table).where(
                    table.c.tier == HOUR, table.c.cluster_id == cid, table.c.bucket_start < cutoff
                )
            )
            count(f"{table.name}:{HOUR}", result.rowcount)
    cutoff = floor_bucket(now - timedelta(days=retention.daily_days), DAY)
    for table in (CR, NR, CLR):
        result = conn.execute(
            delete(table).where(table.c.tier == DAY, table.c.cluster_id == cid, table.c.bucket_start < cutoff)
        )
        count(f"{table.name}:{DAY}", result.rowcount)


RETENTION_KEYS = (
    "container_samples", "node_samples", "quota_samples", "snapshots",
    "container_rollups:hour", "node_rollups:hour", "cluster_rollups:hour",
    "container_rollups:day", "node_rollups:day", "cluster_rollups:day",
)  # fmt: skip


def compact(
    target: Engine | Connection,
    *,
    retention: Retention,
    now: datetime | None = None,
    clusters: tuple[str, ...] = (),
) -> CompactResult:
    """Roll up every complete hour and day, then apply retention; return what was done.

    ``clusters`` limits the work to those cluster names (a collector compacts its own cluster
    after each collection); empty means every cluster. Given an Engine (or a Connection outside a
    transaction), each cluster's hourly step, daily step and retention step run in a transaction
    of their own, so a failure leaves every cluster at a consistent watermark; given a Connection
    inside a transaction, everything runs in the caller's transaction. Idempotent: a second run
    with nothing new computes nothing and deletes nothing. An hour that got a snapshot after it
    was rolled up (more node samples in its snapshots than in its rollup) is rolled again, with
    its day, while its raw rows are all kept (``retention.raw_days``).
    """
    now = _utc(now or datetime.now(UTC))
    table = _table(m.Cluster)
    query = select(table.c.id).order_by(table.c.id)
    if clusters:
        query = query.where(table.c.name.in_(clusters))
    with _transaction(target) as conn:
        cids = [int(c) for c in conn.execute(query).scalars()]
    hours = days = rows = late = 0
    deleted = dict.fromkeys(RETENTION_KEYS, 0)
    raw_since = now - timedelta(days=retention.raw_days)
    for cid in cids:
        with _transaction(target) as conn:
            buckets, written, late_hours = _roll_hours(conn, cid, raw_since)
        hours, rows, late = hours + buckets, rows + written, late + late_hours
        with _transaction(target) as conn:
            buckets, written = _roll_days(conn, cid, raw_since)
        days, rows = days + buckets, rows + written
        with _transaction(target) as conn:
            _apply_retention(conn, cid, retention, now, deleted)
    return CompactResult(
        clusters=len(cids),
        hours_rolled=hours,
        days_rolled=days,
        rollup_rows=rows,
        deleted=deleted,
        late_hours=late,
    )


# --- window reads -----------------------------------------------------------------------------


Marks = tuple[datetime | None, datetime | None]  # (hourly, daily) rollups complete until


def _cluster_marks(conn: Connection, clusters: tuple[str, ...]) -> dict[int, Marks]:
    """Return per cluster id (all, or those named) how far its hourly and daily rollups go."""
    table = _table(m.Cluster)
    query = select(table.c.id)
    if clusters:
        query = query.where(table.c.name.in_(clusters))
    cids = [int(c) for c in conn.execute(query).scalars()]
    if not cids:
        return {}
    marks: dict[tuple[int, str], datetime] = {
        (int(cid), str(tier)): until
        for cid, tier, until in conn.execute(
            select(WM.c.cluster_id, WM.c.tier, WM.c.complete_until).where(WM.c.cluster_id.in_(cids))
        )
    }
    return {cid: (marks.get((cid, HOUR)), marks.get((cid, DAY))) for cid in cids}


def _plan(start: datetime, end: datetime, marks: Marks) -> WindowPlan:
    return plan_window(start, end, hour_until=marks[0], day_until=marks[1])


def window_plans(
    conn: Connection, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> dict[str, WindowPlan]:
    """Return, per cluster name, which tier a window read takes each part of [start, end) from."""
    table = _table(m.Cluster)
    names = {int(cid): str(name) for cid, name in conn.execute(select(table.c.id, table.c.name))}
    return {names[cid]: _plan(start, end, marks) for cid, marks in _cluster_marks(conn, clusters).items()}


_TIERS: tuple[Tier | None, ...] = (DAY, HOUR, None)


def _period_chunks(
    conn: Connection, periods: Sequence[Range], clusters: tuple[str, ...]
) -> list[Sequence[Range]]:
    """Cut ``periods`` so that a read's spans (per cluster and period, two per tier at most) fit MAX_SPANS."""
    per_period = 2 * max(1, len(_cluster_marks(conn, clusters)))
    return _chunks(periods, max(1, MAX_SPANS // per_period))


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Return ``items`` cut into consecutive runs of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _tier_ranges(plan: WindowPlan, tier: Tier | None) -> tuple[Range, ...]:
    return plan.days if tier == DAY else plan.hours if tier == HOUR else plan.raw


def _scopes(
    conn: Connection,
    periods: Sequence[Range] | None,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...],
) -> list[tuple[Tier | None, _Scope]]:
    """Return per tier what a read takes: ranges per cluster, or spans labelled by period start."""
    marks = _cluster_marks(conn, clusters)
    if periods is None:
        plans = {cid: _plan(start, end, mark) for cid, mark in marks.items()}
        return [(t, _Scope(ranges={cid: _tier_ranges(p, t) for cid, p in plans.items()})) for t in _TIERS]
    spans: dict[Tier | None, list[Span]] = {tier: [] for tier in _TIERS}
    for label, (lo, hi) in enumerate(periods):
        for cid, mark in marks.items():
            plan = _plan(lo, hi, mark)
            for tier in _TIERS:
                spans[tier].extend((cid, label, a, b) for a, b in _tier_ranges(plan, tier))
    return [(tier, _Scope(spans=spans[tier])) for tier in _TIERS]


def _window_sources(
    grain: _Grain, scopes: list[tuple[Tier | None, _Scope]]
) -> tuple[list[Select[Any]], list[Select[Any]]]:
    rows = [_rows(grain, tier, scope) for tier, scope in scopes]
    hists = [_hist_rows(tier, scope) for tier, scope in scopes] if grain.hist else []
    return [q for q in rows if q is not None], [q for q in hists if q is not None]


_INTEGER_COLUMNS = frozenset({"samples", "restarts_max", "oom_kills_max"})
_NO_HISTOGRAM: Mapping[int, float] = MappingProxyType({})


def _driver_rows(conn: Connection, query: Executable) -> list[tuple[Any, ...]]:
    """Return the rows as the driver gives them, skipping SQLAlchemy's per-row processing.

    Only for window reads, whose columns are names, ids, period numbers and sums (no dates,
    no JSON); ``_frame`` turns PostgreSQL's Decimal sums into numbers.
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()


def _frame(rows: Sequence[Any], columns: Sequence[str], numeric: Sequence[str]) -> pd.DataFrame:
    """Return the rows as a frame with the sums as int64 or float64 (PostgreSQL sums arrive as Decimal)."""
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=list(columns))
    for name in numeric:
        values = frame[name]
        if name in _INTEGER_COLUMNS:
            frame[name] = values.astype("int64")
        elif values.dtype != "float64":
            frame[name] = pd.to_numeric(values).astype("float64")
    return frame


def _labelled(frame: pd.DataFrame, periods: Sequence[Range] | None) -> pd.DataFrame:
    """Turn the label (a period's number) into ``period_start`` or drop it (window reads)."""
    if periods is None:
        return frame.drop(columns="bucket_start")
    starts = pd.DatetimeIndex([_utc(lo) for lo, _ in periods])
    frame = frame.rename(columns={"bucket_start": "period_start"})
    frame["period_start"] = starts[frame["period_start"].astype("int64").to_numpy()]
    return frame


CONTAINER_WINDOW_COLUMNS: tuple[str, ...] = (
    "cluster", "cluster_id", "workload_id", "namespace", "kind", "workload", "container",
    *CONTAINER_COLUMNS, "cpu_usage_hist",
)  # fmt: skip
NODE_WINDOW_COLUMNS: tuple[str, ...] = (
    "cluster", "cluster_id", "node_id", "node", "instance_type", "capacity_type", "node_pool", "zone",
    "region", *NODE_COLUMNS,
)  # fmt: skip
CLUSTER_WINDOW_COLUMNS: tuple[str, ...] = ("cluster", "cluster_id", *CLUSTER_COLUMNS)


@dataclass(frozen=True)
class _Dimension:
    """What a window read joins to its sums: the table ``key`` points to, and its named columns."""

    table: Table
    key: str  # the totals column that holds the table's id
    columns: tuple[str, ...]  # selected in this order; "name" comes out as ``name_as``
    name_as: str
    order: tuple[str, ...]
    tail: tuple[str, ...] = ()  # further grain keys, after the table's columns (and in the order)


_WORKLOADS = _Dimension(
    table=_table(m.Workload),
    key="workload_id",
    columns=("namespace", "kind", "name"),
    name_as="workload",
    order=("namespace", "kind", "name"),
    tail=("container",),
)
_NODES = _Dimension(
    table=_table(m.Node),
    key="node_id",
    columns=("name", "instance_type", "capacity_type", "node_pool", "zone", "region"),
    name_as="node",
    order=("name",),
)


def _read(
    conn: Connection,
    grain: _Grain,
    dimension: _Dimension | None,
    window: Range,
    clusters: tuple[str, ...],
    periods: Sequence[Range] | None,
    *,
    histograms: bool = False,
) -> pd.DataFrame:
    """Return the grain's sums over the window (per period, labelled) with names joined."""
    names = tuple(grain.exprs)
    lead = ["cluster", "cluster_id"]
    if dimension is not None:
        keys = [dimension.name_as if c == "name" else c for c in dimension.columns]
        lead += [dimension.key, *keys, *dimension.tail]
    columns = ["bucket_start", *lead, *names]
    sources, hist_sources = _window_sources(grain, _scopes(conn, periods, *window, clusters))
    if not sources:
        frame = pd.DataFrame(columns=columns)
    else:
        labelled = periods is not None
        totals = _aggregate(grain, sources, bucketed=labelled).subquery("totals")
        cluster_table = _table(m.Cluster)
        selected: list[ColumnElement[Any]] = [
            totals.c.bucket_start if labelled else literal(None).label("bucket_start"),
            cluster_table.c.name.label("cluster"),
            totals.c.cluster_id,
        ]
        source: FromClause = totals.join(cluster_table, cluster_table.c.id == totals.c.cluster_id)
        order: list[ColumnElement[Any]] = [
            *([totals.c.bucket_start] if labelled else []),
            cluster_table.c.name,
        ]
        if dimension is not None:
            table = dimension.table
            source = source.join(table, table.c.id == totals.c[dimension.key])
            selected += [
                totals.c[dimension.key],
                *(
                    table.c[c].label(dimension.name_as) if c == "name" else table.c[c]
                    for c in dimension.columns
                ),
                *(totals.c[c] for c in dimension.tail),
            ]
            order += [*(table.c[c] for c in dimension.order), *(totals.c[c] for c in dimension.tail)]
        query = select(*selected, *(totals.c[name] for name in names)).select_from(source).order_by(*order)
        frame = _frame(_driver_rows(conn, query), columns, names)
    if grain.hist:
        # Without histograms, every row holds the same read-only empty mapping (no dict per row).
        found: list[Mapping[int, float]] = [_NO_HISTOGRAM] * len(frame)
        if histograms and len(frame):
            hists = _merged_hists(conn, hist_sources)
            ids = zip(frame["cluster_id"], frame["workload_id"], frame["container"], strict=True)
            if periods is not None:
                found = [hists.get((b, *k), {}) for b, k in zip(frame["bucket_start"], ids, strict=True)]
            else:
                found = [hists.get(k, {}) for k in ids]
        frame["cpu_usage_hist"] = pd.Series(found, index=frame.index, dtype=object)
    return _labelled(frame, periods)


def _in_periods(
    conn: Connection,
    periods: Sequence[Range],
    clusters: tuple[str, ...],
    read: Callable[[Range, Sequence[Range]], pd.DataFrame],
    columns: Sequence[str],
) -> pd.DataFrame:
    """Return ``read`` over consecutive chunks of ``periods`` (see ``MAX_SPANS``), concatenated."""
    if not periods:
        return pd.DataFrame(columns=["period_start", *columns])
    frames = [read((part[0][0], part[-1][1]), part) for part in _period_chunks(conn, periods, clusters)]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def workloads_in_window(
    conn: Connection, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return the workloads with container rows in [start, end): ``workload_id``, ``namespace``.

    Distinct ids only, from the tiers' keys (the rollups' primary key holds them): no sums.
    """
    selects = []
    for tier, scope in _scopes(conn, None, start, end, clusters):
        table = CS if tier is None else CR
        time = table.c.taken_at if tier is None else table.c.bucket_start
        tier_only = [] if tier is None else [table.c.tier == tier]
        # One SELECT per range: with the ranges OR-ed, SQLite scans the whole tier's index.
        for condition in _range_conditions(table.c.cluster_id, time, scope.ranges or {}):
            selects.append(select(table.c.workload_id).where(*tier_only, condition))
    found: set[int] = set()
    for part in _chunks(selects, COMPOUND_SELECTS):
        query = part[0] if len(part) == 1 else union_all(*part)
        found.update(int(row[0]) for row in _driver_rows(conn, query))
    workloads = _table(m.Workload)
    rows = []
    for ids in _chunks(sorted(found), MAX_SPANS):
        rows += _driver_rows(
            conn, select(workloads.c.id, workloads.c.namespace).where(workloads.c.id.in_(ids))
        )
    frame = pd.DataFrame(rows, columns=["workload_id", "namespace"])
    return frame.sort_values("workload_id").reset_index(drop=True)


def _containers_grain(sums: Sequence[str] | None) -> _Grain:
    if sums is None:
        return CONTAINERS
    # fewer columns to sum and carry: a cost report needs a dozen of them
    return dataclasses.replace(CONTAINERS, exprs={name: CONTAINERS.exprs[name] for name in sums})


def container_window(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...] = (),
    histograms: bool = True,
    sums: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return one row per (cluster, workload, container) with the sums and maxima over [start, end).

    Columns: ``CONTAINER_WINDOW_COLUMNS`` (the ContainerRollup columns under the same names;
    ``cpu_usage_hist`` is a dict {bucket: replica-seconds}, empty with ``histograms=False``,
    which skips their merge: only right-sizing needs them). ``sums`` names the only
    ``CONTAINER_COLUMNS`` to read (default: all). Sorted by cluster, namespace, kind, workload,
    container.
    """
    grain = _containers_grain(sums)
    return _read(conn, grain, _WORKLOADS, (start, end), clusters, None, histograms=histograms)


def container_periods(
    conn: Connection,
    *,
    periods: Sequence[Range],
    clusters: tuple[str, ...] = (),
    histograms: bool = False,
    sums: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return ``container_window`` of every period at once, led by a ``period_start`` column.

    One read per tier for all periods (not one window read per period): rows are labelled with
    the start of the period that holds them. Periods must not overlap. Sorted by period first.
    """
    grain = _containers_grain(sums)

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        return _read(conn, grain, _WORKLOADS, window, clusters, part, histograms=histograms)

    return _in_periods(conn, periods, clusters, read, CONTAINER_WINDOW_COLUMNS)


def node_window(
    conn: Connection, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return one row per (cluster, node) with the sums over [start, end).

    Columns: ``NODE_WINDOW_COLUMNS`` (the NodeRollup columns under the same names), sorted by
    cluster and node name.
    """
    return _read(conn, NODES, _NODES, (start, end), clusters, None)


def node_periods(
    conn: Connection, *, periods: Sequence[Range], clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return ``node_window`` of every period at once, led by a ``period_start`` column."""

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        return _read(conn, NODES, _NODES, window, clusters, part)

    return _in_periods(conn, periods, clusters, read, NODE_WINDOW_COLUMNS)


def cluster_window(
    conn: Connection, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return one row per cluster with its nodes' sums over [start, end) (``node_window`` summed).

    Columns: ``CLUSTER_WINDOW_COLUMNS``: ``seconds`` is the time the cluster's snapshots stand
    for, ``node_seconds`` the nodes' seconds summed; every other sum as in ``node_window``.
    Read from the cluster rollups: one row per cluster and bucket, whatever the node count.
    """
    return _read(conn, CLUSTERS, None, (start, end), clusters, None)


def cluster_periods(
    conn: Connection, *, periods: Sequence[Range], clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return ``cluster_window`` of every period at once, led by a ``period_start`` column."""

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        return _read(conn, CLUSTERS, None, window, clusters, part)

    return _in_periods(conn, periods, clusters, read, CLUSTER_WINDOW_COLUMNS)
