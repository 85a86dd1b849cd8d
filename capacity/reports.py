"""Reports: teams, namespaces, workloads, nodes, clusters, recommendations, chargeback, as DataFrames.

Windowed sums come from ``capacity.store.windows`` (daily and hourly rollups plus raw rows at the
edges); attribution, cost allocation and right-sizing are the pure functions of
``capacity.analysis``. Column names carry their units.

A report with a step reads every period at once (one read per tier, rows labelled by period)
and allocates all periods in one pass. ``Reads`` memoizes window reads, so that several
reports over the same window (a dashboard page) read the database once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import Connection

from capacity.analysis.attribution import UNALLOCATED
from capacity.analysis.autoscaling import autoscalers_by_workload
from capacity.analysis.binpacking import simulate
from capacity.analysis.costs import IDLE, IdleMode, allocate, ratio, with_groups
from capacity.analysis.forecast import forecast
from capacity.analysis.node_types import search as node_type_search
from capacity.analysis.rightsizing import Policy, recommendations
from capacity.config import Config
from capacity.errors import CapacityError
from capacity.node_shapes import offers_in
from capacity.reads import Reads, with_labels
from capacity.store.autoscalers import autoscalers_at
from capacity.store.grains import TOTALS
from capacity.store.inventory import packing_inputs
from capacity.store.windows import container_histograms
from capacity.volumes import volume_report

Kind = Literal["teams", "namespaces", "workloads", "nodes", "clusters", "recommendations", "chargeback"]
KINDS: tuple[str, ...] = (
    "teams", "namespaces", "workloads", "nodes", "clusters", "recommendations", "chargeback", "binpacking",
    "nodetypes", "forecast", "volumes",
)  # fmt: skip
Step = Literal["day", "week", "month"]

TEAM_COLUMNS = [
    "cpu_request_core_hours", "cpu_usage_core_hours", "cpu_efficiency", "memory_request_gib_hours",
    "memory_usage_gib_hours", "memory_efficiency", "gpu_hours", "cpu_cost", "memory_cost", "gpu_cost",
    "storage_cost", "network_cost", "shared_cost", "idle_cost", "total_cost", "total_efficiency",
    "monthly_savings",
]  # fmt: skip
GIB = 1024.0**3
NODE_COLUMNS = [
    "cluster", "node", "instance_type", "capacity_type", "node_pool", "hours", "cpu_capacity_core_hours",
    "memory_capacity_gib_hours", "cpu_allocatable_core_hours", "cpu_requested_core_hours",
    "cpu_usage_core_hours", "memory_allocatable_gib_hours", "memory_requested_gib_hours",
    "memory_usage_gib_hours", "cpu_cost", "memory_cost", "gpu_cost", "total_cost", "idle_cost",
    "cpu_allocation", "cpu_utilization", "memory_allocation", "memory_utilization",
    "cpu_overcommit_core_hours",
]  # fmt: skip
CLUSTER_COLUMNS = ["cluster", "nodes_average", *NODE_COLUMNS[NODE_COLUMNS.index("hours") :]]
PERIOD = "period_start"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    kind: str
    start: datetime
    end: datetime  # exclusive
    clusters: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    by: str = "team"
    step: Step | None = None
    idle: IdleMode = "separate"


def periods(start: datetime, end: datetime, step: Step | None) -> list[tuple[datetime, datetime]]:
    """Split [start, end) at UTC day, ISO week (Monday) or month boundaries."""
    if step is None:
        return [(start, end)]
    out = []
    cursor = start
    while cursor < end:
        if step == "day":
            boundary = datetime(cursor.year, cursor.month, cursor.day, tzinfo=UTC) + timedelta(days=1)
        elif step == "week":
            day = datetime(cursor.year, cursor.month, cursor.day, tzinfo=UTC)
            boundary = day + timedelta(days=7 - day.weekday())
        else:
            boundary = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
        out.append((cursor, min(boundary, end)))
        cursor = min(boundary, end)
    return out


def team_names(
    conn: Connection,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...],
    config: Config,
    *,
    reads: Reads | None = None,
) -> list[str]:
    """Return the teams that ran containers or held volumes or load balancers in [start, end)
    (outside shared namespaces), sorted.

    The teams of a ``teams`` report over the window without its ``__idle__`` and
    ``__unmounted__`` rows, from the ids of the workloads in the window (no container sums, no
    allocation, no right-sizing).
    """
    reads = reads or Reads(config.pricing)
    holders = reads.assets(conn, start, end, clusters)
    frame = pd.concat(
        [reads.workloads(conn, start, end, clusters), holders[["workload_id", "namespace", "kind"]]],
        ignore_index=True,
    ).drop_duplicates("workload_id")
    if frame.empty:
        return []
    grouped = with_groups(with_labels(conn, frame), config.attribution, "team", config.shared)
    owned = ~grouped["shared"].astype(bool) & ~grouped["unmounted"].astype(bool)
    return sorted({str(g) for g in grouped.loc[owned, "group"]})


def rightsizing_since(end: datetime, config: Config) -> datetime:
    """Return where right-sizing's evidence starts for a window ending at ``end``: the start of the
    UTC day ``rightsizing.window_days`` before it (whole days are read from daily rollups, so a
    window cut mid-day would read its edges hour by hour twice)."""
    start = (end - timedelta(days=config.rightsizing.window_days)).astimezone(UTC)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def _savings_by(recs: pd.DataFrame, key: str) -> pd.Series:
    if recs.empty:
        return pd.Series(dtype=float)
    return recs.groupby(key)["monthly_savings"].sum()


def build_report(
    conn: Connection,
    request: ReportRequest,
    config: Config,
    *,
    progress: Callable[[int, int], None] | None = None,
    reads: Reads | None = None,
) -> pd.DataFrame:
    """Return the report's rows for every period of the request.

    ``reads`` shares window reads with other reports over the same window (see ``Reads``).
    """
    reads = reads or Reads(config.pricing)
    if request.kind == "binpacking":
        return _binpacking(conn, request, config, reads)
    if request.kind == "nodetypes":
        if request.step is not None:
            raise CapacityError("nodetypes packs the latest snapshot of each cluster: it takes no --step")
        pods, nodes = packing_inputs(conn, clusters=request.clusters, pricing=config.pricing)
        return node_type_search(pods, nodes, lambda region: offers_in(region, config.pricing.currency))
    if request.kind == "forecast":
        return _forecast(conn, request, config, reads)
    if request.kind == "volumes":
        spans = None if request.step is None else periods(request.start, request.end, request.step)
        volumes = volume_report(conn, config, (request.start, request.end), request.clusters, spans)
        return _finished(volumes, request)
    step = request.step or ("month" if request.kind == "chargeback" else None)  # chargeback: per month
    spans = periods(request.start, request.end, step)
    # Savings are a figure for now, not per period: right-size once, as of the request's end,
    # whatever the step.
    recs = None
    if request.kind in ("teams", "namespaces", "workloads"):
        # one container read for the report's window (or periods) and the right-sizing window
        since = rightsizing_since(request.end, config)
        reads.prefetch(conn, (request.start, request.end), None if step is None else tuple(spans), since,
                       request.clusters)  # fmt: skip
        recs = _recommendations(conn, request, config, (request.start, request.end), reads)
    if step is None:
        result = _report(conn, request, config, (request.start, request.end), None, recs, reads)
    elif request.kind == "recommendations":
        frames = []
        for number, (start, end) in enumerate(spans, start=1):
            frame = _report(conn, request, config, (start, end), None, recs, reads)
            frame.insert(0, PERIOD, start)
            frames.append(frame)
            if progress is not None:
                progress(number, len(spans))
        result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    else:
        result = _report(conn, request, config, (request.start, request.end), tuple(spans), recs, reads)
    if progress is not None and (step is None or request.kind != "recommendations"):
        progress(len(spans), len(spans))
    return _finished(result, request)


def _finished(result: pd.DataFrame, request: ReportRequest) -> pd.DataFrame:
    """Return a report's rows with period starts as UTC text and only the requested teams."""
    if PERIOD in result.columns:
        stamps = pd.to_datetime(result[PERIOD], utc=True)
        result[PERIOD] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ") if len(result) else stamps.astype(str)
    if request.teams and "team" in result.columns:
        result = result[result["team"].isin(request.teams)].reset_index(drop=True)
    return result


def _binpacking(conn: Connection, request: ReportRequest, config: Config, reads: Reads) -> pd.DataFrame:
    """Pack each pool's pods at the latest snapshots, as requested and right-sized (see binpacking).

    The right-sizing is the recommendations report ending where the request ends. The packing is of
    whole pools, which teams share: a team filter does not apply, and there is no step.
    """
    if request.step is not None:
        raise CapacityError("binpacking packs the latest snapshot of each cluster: it takes no --step")
    recs = _recommendations(conn, request, config, (request.start, request.end), reads)
    pods, nodes = packing_inputs(conn, clusters=request.clusters, pricing=config.pricing)
    return simulate(pods, nodes, recs)


def _forecast(conn: Connection, request: ReportRequest, config: Config, reads: Reads) -> pd.DataFrame:
    """Fit each cluster's trend through the window's days (the clusters report stepped by day)."""
    if request.step is not None:
        raise CapacityError("forecast fits a line through the window's days: it takes no --step")
    daily = build_report(conn, dataclasses.replace(request, kind="clusters", step="day"), config, reads=reads)
    return forecast(daily, request.end)


def _policy(config: Config) -> Policy:
    return Policy(
        cpu_percentile=config.rightsizing.cpu_percentile,
        memory_margin=config.rightsizing.memory_margin,
        min_hours=config.rightsizing.min_hours,
    )


def _grouped(
    conn: Connection,
    request: ReportRequest,
    config: Config,
    window: tuple[datetime, datetime],
    spans: tuple[tuple[datetime, datetime], ...] | None,
    reads: Reads,
    *,
    histograms: bool,
) -> pd.DataFrame:
    """The window's containers with their groups; for cost allocation (no histograms), beside
    them one row per workload that held volumes or load balancers, with their cost."""
    containers = reads.containers(conn, *window, request.clusters, histograms=histograms, spans=spans)
    if not histograms:
        assets = reads.assets(conn, *window, request.clusters, spans)
        if len(assets):
            containers = pd.concat([containers, assets], ignore_index=True)
    dimension = "team" if request.kind != "teams" else request.by
    return with_groups(containers, config.attribution, dimension, config.shared)


def _recommendations(
    conn: Connection,
    request: ReportRequest,
    config: Config,
    window: tuple[datetime, datetime],
    reads: Reads,
) -> pd.DataFrame:
    """Right-size the workloads that ran in ``window``, over the ``rightsizing.window_days`` up to its end.

    Recommendations are a figure for now, and their evidence is the policy's window (like KRR's
    history or the VPA recommender's), not the report's: a 1-day report does not right-size on
    one day of usage. A shorter window only narrows which workloads are listed, to those with
    samples in it (a workload stopped before the window has nothing left to right-size), so the
    Savings table and every savings column agree. Right-sizing is computed once per end and
    shared by every window ending there. A new copy each call: the memo stays as it is.
    """
    start, end = window
    since = rightsizing_since(end, config)
    dimension = "team" if request.kind != "teams" else request.by

    def compute() -> pd.DataFrame:
        # Replicas average over the time each cluster was observed, not the whole policy window.
        observed = reads.clusters(conn, since, end, request.clusters)
        containers = _grouped(conn, request, config, (since, end), None, reads, histograms=True)
        hpas = autoscalers_by_workload(autoscalers_at(conn, end, request.clusters))
        return recommendations(
            _with_totals(conn, containers, hpas, (since, end), request.clusters),
            window_seconds=(end - since).total_seconds(),
            rates=config.pricing.default_rates.on_demand,
            policy=_policy(config),
            cluster_seconds=dict(
                zip(observed["cluster"], observed["seconds"].astype("float64"), strict=True)
            ),
            autoscalers=hpas,
        )

    recs = reads.memo(("recommendations", since, end, request.clusters, dimension), compute)
    if start > since and len(recs):
        ran = reads.workloads(conn, start, end, request.clusters)
        recs = recs[recs["workload_id"].isin(ran["workload_id"])].reset_index(drop=True)
    return recs.drop(columns=["workload_id"], errors="ignore")


def _with_totals(
    conn: Connection,
    containers: pd.DataFrame,
    hpas: Mapping[tuple[str, str, str, str], object],
    window: tuple[datetime, datetime],
    clusters: tuple[str, ...],
) -> pd.DataFrame:
    """Return ``containers`` with the usage histograms of all replicas merged for the workloads
    an HPA scales (``TOTALS``: what HPA-aware right-sizing projects from), empty for the rest."""
    keys = zip(
        containers["cluster"],
        containers["namespace"],
        containers["kind"],
        containers["workload"],
        strict=True,
    )
    scaled = [key in hpas for key in keys]
    if not any(scaled):
        return containers
    workloads = sorted({int(w) for w, hit in zip(containers["workload_id"], scaled, strict=True) if hit})
    found = container_histograms(conn, start=window[0], end=window[1], clusters=clusters, columns=TOTALS,
                                 workloads=workloads)  # fmt: skip
    out = containers.copy()
    ids = list(zip(out["cluster_id"], out["workload_id"], out["container"], strict=True))
    for column, hists in found.items():
        out[column] = pd.Series([hists.get(k, {}) for k in ids], index=out.index, dtype=object)
    return out


def _by_period_then_cost(table: pd.DataFrame, lead: list[str]) -> pd.DataFrame:
    if lead:
        return table.sort_values([*lead, "total_cost"], ascending=[True, False], kind="stable").reset_index(
            drop=True
        )
    return table.sort_values("total_cost", ascending=False, kind="stable").reset_index(drop=True)


def _report(
    conn: Connection,
    request: ReportRequest,
    config: Config,
    window: tuple[datetime, datetime],
    spans: tuple[tuple[datetime, datetime], ...] | None,
    recs: pd.DataFrame | None,
    reads: Reads,
) -> pd.DataFrame:
    """Return the report over ``window``, or over each of ``spans`` (led by ``period_start``)."""
    lead = [PERIOD] if spans is not None else []
    if request.kind == "nodes":
        return node_report(reads.nodes(conn, *window, request.clusters, spans))
    if request.kind == "clusters":
        return cluster_report(reads.clusters(conn, *window, request.clusters, spans))
    if request.kind == "recommendations":
        return _recommendations(conn, request, config, window, reads)
    # Usage histograms are for right-sizing only: the allocation read skips merging them.
    containers = _grouped(conn, request, config, window, spans, reads, histograms=False)
    # Allocation needs only each cluster's idle cost and covered seconds: cluster rollups.
    nodes = reads.clusters(conn, *window, request.clusters, spans)
    scope = [*lead, "cluster"]
    if recs is None:
        recs = pd.DataFrame(
            columns=["team", "cluster", "namespace", "workload_kind", "workload", "monthly_savings"]
        )
    if request.kind in ("teams", "chargeback"):
        key = request.by if request.kind == "teams" else "team"
        containers = containers.rename(columns={"group": key})
        table = allocate(
            containers, nodes, keys=[*lead, key], shared=config.shared, idle=request.idle, scope=scope
        )
        savings = _savings_by(recs, "team")
        table["monthly_savings"] = table[key].map(savings).fillna(0.0)
        table.loc[table[key] == IDLE, "monthly_savings"] = 0.0
        table = _by_period_then_cost(table, lead)
        if request.kind == "chargeback":
            columns = [*lead, key, "cluster", "cpu_cost", "memory_cost", "gpu_cost", "storage_cost",
                       "network_cost", "shared_cost", "idle_cost", "total_cost"]  # fmt: skip
            return table[columns].rename(columns={key: "team"})
        return table[[*lead, key, "cluster", *TEAM_COLUMNS]]
    keys = (
        ["cluster", "namespace"]
        if request.kind == "namespaces"
        else ["cluster", "namespace", "kind", "workload"]
    )
    containers = containers.rename(columns={"group": "team"})
    table = allocate(
        containers,
        nodes,
        keys=[*lead, *keys, "team"],
        shared=config.shared,
        idle=request.idle,
        distribute_shared=False,
        scope=scope,
    )
    recs_key = recs.rename(columns={"workload_kind": "kind"})
    savings = (
        recs_key.groupby(keys)["monthly_savings"].sum() if not recs_key.empty else pd.Series(dtype=float)
    )
    table["monthly_savings"] = [
        float(savings.get(tuple(r), 0.0)) for r in table[keys].itertuples(index=False)
    ]
    table = _by_period_then_cost(table, lead)
    return table[[*lead, *keys, "team", *[c for c in TEAM_COLUMNS if c != "shared_cost"]]]


def _capacity(frame: pd.DataFrame, out: pd.DataFrame, usage_share: pd.Series) -> pd.DataFrame:
    """Add the capacity, cost and ratio columns shared by the node and cluster reports."""
    out["hours"] = frame["seconds"] / 3600.0
    out["cpu_capacity_core_hours"] = frame["cpu_capacity_cs"] / 3600.0
    out["memory_capacity_gib_hours"] = frame["memory_capacity_bs"] / GIB / 3600.0
    # usage core-hours cover only the samples whose usage is known (see the utilization ratios)
    out["cpu_allocatable_core_hours"] = frame["cpu_allocatable_cs"] / 3600.0
    out["cpu_requested_core_hours"] = frame["cpu_requested_cs"] / 3600.0
    out["cpu_usage_core_hours"] = frame["cpu_usage_cs"] / 3600.0
    out["memory_allocatable_gib_hours"] = frame["memory_allocatable_bs"] / GIB / 3600.0
    out["memory_requested_gib_hours"] = frame["memory_requested_bs"] / GIB / 3600.0
    out["memory_usage_gib_hours"] = frame["memory_usage_bs"] / GIB / 3600.0
    out["cpu_cost"] = frame["cpu_cost"]
    out["memory_cost"] = frame["memory_cost"]
    out["gpu_cost"] = frame["gpu_cost"]
    out["total_cost"] = frame["cost"]
    out["idle_cost"] = frame["cpu_idle_cost"] + frame["memory_idle_cost"] + frame["gpu_idle_cost"]
    out["cpu_allocation"] = ratio(frame["cpu_requested_cs"], frame["cpu_allocatable_cs"])
    out["cpu_utilization"] = ratio(frame["cpu_usage_cs"], frame["cpu_allocatable_cs"] * usage_share)
    out["memory_allocation"] = ratio(frame["memory_requested_bs"], frame["memory_allocatable_bs"])
    out["memory_utilization"] = ratio(frame["memory_usage_bs"], frame["memory_allocatable_bs"] * usage_share)
    out["cpu_overcommit_core_hours"] = frame["cpu_overcommit_cs"] / 3600.0
    lead = [PERIOD] if PERIOD in out.columns else []
    return _by_period_then_cost(out, lead)


def node_report(nodes: pd.DataFrame) -> pd.DataFrame:
    """Return one row per node (per period): cost, idle, allocation and utilization."""
    lead = [PERIOD] if PERIOD in nodes.columns else []
    if nodes.empty:
        return pd.DataFrame(columns=[*lead, *NODE_COLUMNS])
    out = nodes[[*lead, "cluster", "node", "instance_type", "capacity_type", "node_pool"]].copy()
    return _capacity(nodes, out, ratio(nodes["usage_seconds"], nodes["seconds"]))


def cluster_report(clusters: pd.DataFrame) -> pd.DataFrame:
    """Return one row per cluster (per period): the node report summed, with the average node count.

    ``hours`` is the time the cluster's snapshots cover; utilization counts only the node
    samples whose usage is known.
    """
    lead = [PERIOD] if PERIOD in clusters.columns else []
    if clusters.empty:
        return pd.DataFrame(columns=[*lead, *CLUSTER_COLUMNS])
    out = clusters[[*lead, "cluster"]].copy()
    out["nodes_average"] = ratio(clusters["node_seconds"], clusters["seconds"])
    out = _capacity(clusters, out, ratio(clusters["usage_seconds"], clusters["node_seconds"]))
    return out[[*lead, *CLUSTER_COLUMNS]]


__all__ = [
    "KINDS", "UNALLOCATED", "Reads", "ReportRequest", "build_report", "cluster_report", "node_report",
    "periods", "rightsizing_since", "team_names",
]  # fmt: skip
