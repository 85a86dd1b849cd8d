"""What a rollup holds: per grain (containers, nodes, clusters) one row-level expression per
column over a raw sample joined to its snapshot, how columns combine, and the SELECTs that read
a grain's rows from any tier.

Rollups store the samples' values multiplied by their seconds (core-seconds, byte-seconds,
money), so sums add across buckets and tiers; maxima take the maximum; histograms merge by
adding weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    Connection,
    Double,
    FromClause,
    Integer,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import column as sql_column
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ColumnElement

from capacity.store import schema as m
from capacity.store.buckets import STEP, Range, Tier

# cluster id, label (a bucket start, or a period's number), lo, hi
Span = tuple[int, datetime | int, datetime, datetime]


def table_of(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


CS = table_of(m.ContainerSample)
NS = table_of(m.NodeSample)
QS = table_of(m.QuotaSample)
SNAP = table_of(m.Snapshot)
CR = table_of(m.ContainerRollup)
NR = table_of(m.NodeRollup)
CLR = table_of(m.ClusterRollup)
WM = table_of(m.RollupWatermark)

# Time spans one statement carries per tier (4 bound parameters each). A read has a VALUES list
# for each of its 7 tiers (raw, hours, days and 4 block tiers): 28,000 parameters at most, under
# SQLite's 32,766 and PostgreSQL's 65,535. Compaction batches and per-period reads are cut to fit.
MAX_SPANS = 1_000
COMPOUND_SELECTS = 400  # SELECTs per UNION ALL: SQLite refuses more than 500


Agg = Literal["sum", "max"]
Exprs = dict[str, ColumnElement[Any]]


def _hourly_money(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return value * SNAP.c.interval_seconds / 3600.0


def _container_exprs() -> Exprs:
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


def _node_exprs() -> Exprs:
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
class Grain:
    raw: Table
    rollup: Table
    keys: tuple[str, ...]
    exprs: Exprs  # row-level value of each rollup column, over a raw sample joined to its snapshot
    known: ColumnElement[bool]  # raw samples whose usage (and histogram) is known
    hist: bool
    raw_where: ColumnElement[bool] | None = None  # only these raw rows belong to the grain

    @property
    def columns(self) -> list[tuple[str, Agg]]:
        return [(name, "max" if name.endswith("_max") else "sum") for name in self.exprs]


CONTAINERS = Grain(
    CS, CR, ("workload_id", "container"), _container_exprs(), CS.c.cpu_usage_sum.is_not(None), True
)
NODES = Grain(NS, NR, ("node_id",), _node_exprs(), NS.c.cpu_usage.is_not(None), False)


def _cluster_exprs() -> Exprs:
    # A snapshot's seconds spread over its node samples sum back to the snapshot's seconds.
    seconds = SNAP.c.interval_seconds
    share = case((SNAP.c.node_count > 0, seconds / sql_cast(SNAP.c.node_count, Double())), else_=0.0)
    exprs = _node_exprs()
    return {"samples": exprs.pop("samples"), "seconds": share, "node_seconds": exprs.pop("seconds"), **exprs}


CLUSTERS = Grain(NS, CLR, (), _cluster_exprs(), NS.c.cpu_usage.is_not(None), False)
CLUSTER_COLUMNS: tuple[str, ...] = tuple(CLUSTERS.exprs)

CONTAINER_COLUMNS: tuple[str, ...] = tuple(CONTAINERS.exprs)
NODE_COLUMNS: tuple[str, ...] = tuple(NODES.exprs)


def range_conditions(
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
class Scope:
    """Which rows a source reads: time ranges per cluster, unlabelled (a window), or labelled spans.

    With spans, every row comes out labelled (``bucket_start``) with the label of the span that
    holds it: a rollup bucket when compacting, a report period when a window is read per period.
    """

    ranges: dict[int, Sequence[Range]] | None = None
    spans: Sequence[Span] | None = None

    @classmethod
    def bucketed(cls, cluster_id: int, starts: Sequence[datetime], tier: Tier) -> Scope:
        return cls(spans=[(cluster_id, b, b, b + STEP[tier]) for b in starts])

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
            conditions = range_conditions(table.c.cluster_id, time, self.ranges or {})
            if not conditions:
                return None
            where.append(or_(*conditions))
        if tier is None:
            source = source.join(SNAP, SNAP.c.id == table.c.snapshot_id)
        return lead, source, where


def grain_rows(grain: Grain, tier: Tier | None, scope: Scope) -> Select[Any] | None:
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
    if tier is None and grain.raw_where is not None:
        where.append(grain.raw_where)
    keys = [table.c[key] for key in grain.keys]
    return select(*lead, table.c.cluster_id, *keys, *values).select_from(source).where(*where)


# The container grain's histograms (see capacity.histogram): per replica, and of all replicas
HISTOGRAMS = ("cpu_usage_hist", "cpu_total_hist", "memory_total_hist")
PER_REPLICA, TOTALS = HISTOGRAMS[:1], HISTOGRAMS[1:]  # every right-sizing, and HPA-aware right-sizing


def hist_rows(tier: Tier | None, scope: Scope, column: str = HISTOGRAMS[0]) -> Select[Any] | None:
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
            table.c[column].label("hist"),
        )
        .select_from(source)
        .where(*where)
    )


def aggregate(grain: Grain, sources: Sequence[Select[Any]], *, bucketed: bool = False) -> Select[Any]:
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


def driver_rows(conn: Connection, query: Executable) -> list[tuple[Any, ...]]:
    """Return the rows as the driver gives them, skipping SQLAlchemy's per-row processing.

    Only for reads whose columns are names, ids, period numbers and sums (no dates, no JSON);
    PostgreSQL's sums arrive as Decimal.
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()


HistKey = tuple[Any, ...]  # (cluster_id, workload_id, container), led by bucket_start when bucketed


def merged_hists(
    conn: Connection, sources: Sequence[Select[Any]], workloads: Sequence[int] | None = None
) -> dict[HistKey, dict[int, float]]:
    """Return {key: merged histogram}, each row's weights multiplied by its scale; only of
    ``workloads`` when given (in statements of at most ``MAX_SPANS`` ids).

    The database unpacks the JSON and adds the weights (SQLite's ``json_each``, PostgreSQL's
    ``jsonb_each_text``), so Python sees one row per key and bucket, not one per sample.
    """
    merged: dict[HistKey, dict[int, float]] = defaultdict(dict)
    if not sources:
        return merged
    if workloads is not None:
        for at in range(0, len(workloads), MAX_SPANS):
            ids = list(workloads[at : at + MAX_SPANS])
            merged.update(
                merged_hists(conn, [q.where(q.selected_columns.workload_id.in_(ids)) for q in sources])
            )
        return merged
    rows = (sources[0] if len(sources) == 1 else union_all(*sources)).subquery("hist_rows")
    keys = [c for c in rows.c if c.name not in ("scale", "hist")]
    if conn.dialect.name == "postgresql":
        each = func.jsonb_each_text(rows.c.hist).table_valued("key", "value").alias("bucket")
        weight: ColumnElement[Any] = sql_cast(each.c.value, Double())
    else:
        each = func.json_each(rows.c.hist).table_valued("key", "value").alias("bucket")
        weight = each.c.value
    query = (
        select(*keys, each.c.key, func.sum(weight * rows.c.scale))
        .select_from(rows.join(each, true()))
        .group_by(*keys, each.c.key)
    )
    # ids, names and sums only take the driver's rows as they are; a bucket start needs its type
    dated = any(isinstance(c.type, m.UTCDateTime) for c in keys)
    for *key, bucket, total in conn.execute(query) if dated else driver_rows(conn, query):
        merged[tuple(key)][int(bucket)] = float(total)
    return merged


# --- compaction -------------------------------------------------------------------------------

# Input rows (samples, or hourly rollup rows) summed by one statement: many small buckets go
