"""Window reads: sums over [start, end) from daily rollups for the whole days, hourly rollups
for the whole hours left, raw rows for the rest; each second once, and the work grows with
workloads x days, not with samples. Where a finer tier has been purged by retention, the partial
hour or day at a window's edge is no longer available and is left out.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import Connection, FromClause, Select, Table, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from capacity.store import schema as m
from capacity.store.buckets import DAY, HOUR, TIERS, Range, Tier, WindowPlan, plan_window, serve, utc
from capacity.store.grains import (
    CLUSTER_COLUMNS,
    CLUSTERS,
    COMPOUND_SELECTS,
    CONTAINER_COLUMNS,
    CONTAINERS,
    CR,
    CS,
    HISTOGRAMS,
    MAX_SPANS,
    NODE_COLUMNS,
    NODES,
    WM,
    Grain,
    Scope,
    Span,
    aggregate,
    driver_rows,
    grain_rows,
    hist_rows,
    merged_hists,
    range_conditions,
    table_of,
)

T = TypeVar("T")
Marks = Mapping[Tier, datetime | None]  # per tier: rolled up until (None: not at all)


def _cluster_marks(conn: Connection, clusters: tuple[str, ...]) -> dict[int, Marks]:
    """Return per cluster id (all, or those named) how far each tier of its rollups goes."""
    table = table_of(m.Cluster)
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
    return {cid: {tier: marks.get((cid, tier)) for tier in TIERS} for cid in cids}


def _plan(start: datetime, end: datetime, marks: Marks) -> WindowPlan:
    return plan_window(start, end, hour_until=marks[HOUR], day_until=marks[DAY])


def window_plans(
    conn: Connection, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> dict[str, WindowPlan]:
    """Return, per cluster name, which tier a window read takes each part of [start, end) from."""
    table = table_of(m.Cluster)
    names = {int(cid): str(name) for cid, name in conn.execute(select(table.c.id, table.c.name))}
    return {names[cid]: _plan(start, end, marks) for cid, marks in _cluster_marks(conn, clusters).items()}


_TIERS: tuple[Tier | None, ...] = (*TIERS, None)


def _period_chunks(
    conn: Connection, periods: Sequence[Range], clusters: tuple[str, ...]
) -> list[Sequence[Range]]:
    """Cut ``periods`` into consecutive runs whose spans (per cluster, period and tier, see
    ``serve``) fit MAX_SPANS in every tier: a read's VALUES lists stay under the parameter limits."""
    marks = _cluster_marks(conn, clusters)
    runs: list[Sequence[Range]] = []
    run: list[Range] = []
    totals: Counter[Tier | None] = Counter()
    for period in periods:
        counts: Counter[Tier | None] = Counter()
        for mark in marks.values():
            for tier, ranges in serve(_plan(*period, mark), mark).items():
                counts[tier] += len(ranges)
        if run and any(totals[tier] + n > MAX_SPANS for tier, n in counts.items()):
            runs.append(run)
            run, totals = [], Counter()
        run.append(period)
        totals.update(counts)
    if run:
        runs.append(run)
    return runs


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Return ``items`` cut into consecutive runs of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _scopes(
    conn: Connection,
    periods: Sequence[Range] | None,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...],
) -> list[tuple[Tier | None, Scope]]:
    """Return per tier what a read takes: ranges per cluster, or spans labelled by period start."""
    marks = _cluster_marks(conn, clusters)
    if periods is None:
        served = {cid: serve(_plan(start, end, mark), mark) for cid, mark in marks.items()}
        return [(t, Scope(ranges={cid: parts[t] for cid, parts in served.items()})) for t in _TIERS]
    spans: dict[Tier | None, list[Span]] = {tier: [] for tier in _TIERS}
    for label, (lo, hi) in enumerate(periods):
        for cid, mark in marks.items():
            for tier, ranges in serve(_plan(lo, hi, mark), mark).items():
                spans[tier].extend((cid, label, a, b) for a, b in ranges)
    return [(tier, Scope(spans=spans[tier])) for tier in _TIERS]


def _row_sources(grain: Grain, scopes: list[tuple[Tier | None, Scope]]) -> list[Select[Any]]:
    return [q for q in (grain_rows(grain, tier, scope) for tier, scope in scopes) if q is not None]


def _hist_sources(scopes: list[tuple[Tier | None, Scope]], column: str) -> list[Select[Any]]:
    return [q for q in (hist_rows(tier, scope, column) for tier, scope in scopes) if q is not None]


_INTEGER_COLUMNS = frozenset({"samples", "restarts_max", "oom_kills_max"})
_NO_HISTOGRAM: Mapping[int, float] = MappingProxyType({})


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
    starts = pd.DatetimeIndex([utc(lo) for lo, _ in periods])
    frame = frame.rename(columns={"bucket_start": "period_start"})
    frame["period_start"] = starts[frame["period_start"].astype("int64").to_numpy()]
    return frame


CONTAINER_WINDOW_COLUMNS: tuple[str, ...] = (
    "cluster", "cluster_id", "workload_id", "namespace", "kind", "workload", "container",
    *CONTAINER_COLUMNS, *HISTOGRAMS,
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
    table=table_of(m.Workload),
    key="workload_id",
    columns=("namespace", "kind", "name"),
    name_as="workload",
    order=("namespace", "kind", "name"),
    tail=("container",),
)
_NODES = _Dimension(
    table=table_of(m.Node),
    key="node_id",
    columns=("name", "instance_type", "capacity_type", "node_pool", "zone", "region"),
    name_as="node",
    order=("name",),
)


def _read(
    conn: Connection,
    grain: Grain,
    dimension: _Dimension | None,
    window: Range,
    clusters: tuple[str, ...],
    periods: Sequence[Range] | None,
    *,
    histograms: bool | Sequence[str] = False,
) -> pd.DataFrame:
    """Return the grain's sums over the window (per period, labelled) with names joined, and the
    ``histograms`` merged (True: all ``HISTOGRAMS``; the others empty)."""
    merge = HISTOGRAMS if histograms is True else tuple(histograms or ())
    names = tuple(grain.exprs)
    lead = ["cluster", "cluster_id"]
    if dimension is not None:
        keys = [dimension.name_as if c == "name" else c for c in dimension.columns]
        lead += [dimension.key, *keys, *dimension.tail]
    else:
        lead += list(grain.keys)  # ids only: the caller joins what it needs
    columns = ["bucket_start", *lead, *names]
    scopes = _scopes(conn, periods, *window, clusters)
    sources = _row_sources(grain, scopes)
    if not sources:
        frame = pd.DataFrame(columns=columns)
    else:
        labelled = periods is not None
        totals = aggregate(grain, sources, bucketed=labelled).subquery("totals")
        cluster_table = table_of(m.Cluster)
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
        else:
            selected += [totals.c[key] for key in grain.keys]
            order += [totals.c[key] for key in grain.keys]
        query = select(*selected, *(totals.c[name] for name in names)).select_from(source).order_by(*order)
        frame = _frame(driver_rows(conn, query), columns, names)
    for column in HISTOGRAMS if grain.hist else ():
        # Without histograms, every row holds the same read-only empty mapping (no dict per row).
        found: list[Mapping[int, float]] = [_NO_HISTOGRAM] * len(frame)
        if column in merge and len(frame):
            hists = merged_hists(conn, _hist_sources(scopes, column))
            ids = zip(frame["cluster_id"], frame["workload_id"], frame["container"], strict=True)
            if periods is not None:
                found = [hists.get((b, *k), {}) for b, k in zip(frame["bucket_start"], ids, strict=True)]
            else:
                found = [hists.get(k, {}) for k in ids]
        frame[column] = pd.Series(found, index=frame.index, dtype=object)
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
        for condition in range_conditions(table.c.cluster_id, time, scope.ranges or {}):
            selects.append(select(table.c.workload_id).where(*tier_only, condition))
    found: set[int] = set()
    for part in _chunks(selects, COMPOUND_SELECTS):
        query = part[0] if len(part) == 1 else union_all(*part)
        found.update(int(row[0]) for row in driver_rows(conn, query))
    workloads = table_of(m.Workload)
    rows = []
    for ids in _chunks(sorted(found), MAX_SPANS):
        rows += driver_rows(
            conn, select(workloads.c.id, workloads.c.namespace).where(workloads.c.id.in_(ids))
        )
    frame = pd.DataFrame(rows, columns=["workload_id", "namespace"])
    return frame.sort_values("workload_id").reset_index(drop=True)


def container_histograms(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...] = (),
    columns: Sequence[str] = HISTOGRAMS,
    workloads: Sequence[int] | None = None,
) -> dict[str, dict[tuple[int, int, str], dict[int, float]]]:
    """Return per histogram column of ``columns`` the merged histogram of each (cluster id,
    workload id, container) over [start, end), of ``workloads`` only when given.

    The histograms of ``container_window``, read alone: a read of several periods
    (``container_periods``) takes its histograms over the one window that needs them, and
    HPA-aware right-sizing the totals of the workloads an HPA scales.
    """
    scopes = _scopes(conn, None, start, end, clusters)
    return {
        column: {
            (int(c), int(w), str(n)): hist
            for (c, w, n), hist in merged_hists(conn, _hist_sources(scopes, column), workloads).items()
        }
        for column in columns
    }


def _containers_grain(sums: Sequence[str] | None) -> Grain:
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
    histograms: bool | Sequence[str] = True,
    sums: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return one row per (cluster, workload, container) with the sums and maxima over [start, end).

    Columns: ``CONTAINER_WINDOW_COLUMNS`` (the ContainerRollup columns under the same names; the
    ``HISTOGRAMS`` are dicts {bucket: weight} (see capacity.histogram), empty but those named in
    ``histograms`` (True: all), so a read skips the merges it does not need: only right-sizing
    needs any). ``sums`` names the only
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
    histograms: bool | Sequence[str] = False,
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


def grain_window(
    conn: Connection, grain: Grain, *, start: datetime, end: datetime, clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return a grain's sums over [start, end) per cluster and grain key (ids, no names joined)."""
    return _read(conn, grain, None, (start, end), clusters, None)


def grain_periods(
    conn: Connection, grain: Grain, *, periods: Sequence[Range], clusters: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return ``grain_window`` of every period at once, led by a ``period_start`` column."""

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        return _read(conn, grain, None, window, clusters, part)

    columns = ["cluster", "cluster_id", *grain.keys, *grain.exprs]
    return _in_periods(conn, periods, clusters, read, columns)
