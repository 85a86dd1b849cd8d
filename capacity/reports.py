"""Reports: teams, namespaces, workloads, nodes, recommendations, chargeback, as DataFrames.

Windowed sums come from ``capacity.rollup`` (daily and hourly rollups plus raw rows at the
edges); attribution, cost allocation and right-sizing are the pure functions of
``capacity.analysis``. Column names carry their units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import Connection

from capacity.analysis.attribution import UNALLOCATED
from capacity.analysis.costs import IDLE, IdleMode, allocate, with_groups
from capacity.analysis.dimensions import workload_labels
from capacity.analysis.rightsizing import Policy, recommendations
from capacity.config import Config
from capacity.rollup import container_window, node_window

Kind = Literal["teams", "namespaces", "workloads", "nodes", "recommendations", "chargeback"]
KINDS: tuple[str, ...] = ("teams", "namespaces", "workloads", "nodes", "recommendations", "chargeback")
Step = Literal["day", "week", "month"]

TEAM_COLUMNS = [
    "cpu_request_core_hours", "cpu_usage_core_hours", "cpu_efficiency", "memory_request_gib_hours",
    "memory_usage_gib_hours", "memory_efficiency", "gpu_hours", "cpu_cost", "memory_cost", "gpu_cost",
    "shared_cost", "idle_cost", "total_cost", "total_efficiency", "monthly_savings",
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


def _containers(
    conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...], *, histograms: bool = True
) -> pd.DataFrame:
    frame = container_window(conn, start=start, end=end, clusters=clusters, histograms=histograms)
    labels = workload_labels(conn, [int(w) for w in frame["workload_id"].unique()]) if len(frame) else None
    if labels is None or labels.empty:
        frame = frame.copy()
        frame["pod_labels"] = pd.Series([{} for _ in range(len(frame))], index=frame.index, dtype=object)
        frame["namespace_labels"] = pd.Series(
            [{} for _ in range(len(frame))], index=frame.index, dtype=object
        )
    else:
        frame = frame.merge(labels, on="workload_id", how="left")
        frame["pod_labels"] = frame["pod_labels"].apply(lambda v: v if isinstance(v, dict) else {})
        frame["namespace_labels"] = frame["namespace_labels"].apply(
            lambda v: v if isinstance(v, dict) else {}
        )
    return frame


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
) -> pd.DataFrame:
    """Return the report's rows for every period of the request."""
    frames = []
    step = request.step or ("month" if request.kind == "chargeback" else None)  # chargeback: per month
    spans = periods(request.start, request.end, step)
    # Savings are a figure for now, not per period: right-size once over the last
    # recommendation window of the request, whatever the step.
    recs = None
    if request.kind in ("teams", "namespaces", "workloads"):
        rec_start = max(request.start, request.end - timedelta(days=config.rightsizing.window_days))
        recs = _recommendations(conn, request, config, rec_start, request.end)
    for number, (start, end) in enumerate(spans, start=1):
        frame = _one_period(conn, request, config, start, end, recs)
        if progress is not None:
            progress(number, len(spans))
        if step is not None:
            frame.insert(0, "period_start", start.isoformat().replace("+00:00", "Z"))
        frames.append(frame)
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if request.teams and "team" in result.columns:
        result = result[result["team"].isin(request.teams)].reset_index(drop=True)
    return result


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
    start: datetime,
    end: datetime,
    *,
    histograms: bool,
) -> pd.DataFrame:
    return with_groups(
        _containers(conn, start, end, request.clusters, histograms=histograms),
        config.attribution,
        "team" if request.kind != "teams" else request.by,
        config.shared,
    )


def _recommendations(
    conn: Connection, request: ReportRequest, config: Config, start: datetime, end: datetime
) -> pd.DataFrame:
    return recommendations(
        _grouped(conn, request, config, start, end, histograms=True),
        window_seconds=(end - start).total_seconds(),
        rates=config.pricing.default_rates.on_demand,
        policy=_policy(config),
    )


def _one_period(
    conn: Connection,
    request: ReportRequest,
    config: Config,
    start: datetime,
    end: datetime,
    recs: pd.DataFrame | None,
) -> pd.DataFrame:
    if request.kind == "nodes":
        return node_report(node_window(conn, start=start, end=end, clusters=request.clusters))
    if request.kind == "recommendations":
        return _recommendations(conn, request, config, start, end)
    # Usage histograms are for right-sizing only: the allocation read skips merging them.
    containers = _grouped(conn, request, config, start, end, histograms=False)
    nodes = node_window(conn, start=start, end=end, clusters=request.clusters)
    if recs is None:
        recs = pd.DataFrame(
            columns=["team", "cluster", "namespace", "workload_kind", "workload", "monthly_savings"]
        )
    if request.kind in ("teams", "chargeback"):
        key = request.by if request.kind == "teams" else "team"
        containers = containers.rename(columns={"group": key})
        table = allocate(containers, nodes, keys=[key], shared=config.shared, idle=request.idle)
        savings = _savings_by(recs, "team")
        table["monthly_savings"] = table[key].map(savings).fillna(0.0)
        table.loc[table[key] == IDLE, "monthly_savings"] = 0.0
        table = table.sort_values("total_cost", ascending=False, kind="stable").reset_index(drop=True)
        if request.kind == "chargeback":
            return table[[key, "cluster", "cpu_cost", "memory_cost", "gpu_cost", "shared_cost", "idle_cost",
                          "total_cost"]].rename(columns={key: "team"})  # fmt: skip
        return table[[key, "cluster", *TEAM_COLUMNS]]
    keys = (
        ["cluster", "namespace"]
        if request.kind == "namespaces"
        else ["cluster", "namespace", "kind", "workload"]
    )
    containers = containers.rename(columns={"group": "team"})
    table = allocate(
        containers,
        nodes,
        keys=[*keys, "team"],
        shared=config.shared,
        idle=request.idle,
        distribute_shared=False,
    )
    recs_key = recs.rename(columns={"workload_kind": "kind"})
    savings = (
        recs_key.groupby(keys)["monthly_savings"].sum() if not recs_key.empty else pd.Series(dtype=float)
    )
    table["monthly_savings"] = [
        float(savings.get(tuple(r), 0.0)) for r in table[keys].itertuples(index=False)
    ]
    table = table.sort_values("total_cost", ascending=False, kind="stable").reset_index(drop=True)
    return table[[*keys, "team", *[c for c in TEAM_COLUMNS if c != "shared_cost"]]]


def node_report(nodes: pd.DataFrame) -> pd.DataFrame:
    """Return one row per node: cost, idle, allocation and utilization over the window."""
    if nodes.empty:
        return pd.DataFrame(columns=NODE_COLUMNS)
    out = nodes[["cluster", "node", "instance_type", "capacity_type", "node_pool"]].copy()
    out["hours"] = nodes["seconds"] / 3600.0
    out["cpu_capacity_core_hours"] = nodes["cpu_capacity_cs"] / 3600.0
    out["memory_capacity_gib_hours"] = nodes["memory_capacity_bs"] / GIB / 3600.0
    # usage core-hours cover only the samples whose usage is known (see the utilization ratios)
    out["cpu_allocatable_core_hours"] = nodes["cpu_allocatable_cs"] / 3600.0
    out["cpu_requested_core_hours"] = nodes["cpu_requested_cs"] / 3600.0
    out["cpu_usage_core_hours"] = nodes["cpu_usage_cs"] / 3600.0
    out["memory_allocatable_gib_hours"] = nodes["memory_allocatable_bs"] / GIB / 3600.0
    out["memory_requested_gib_hours"] = nodes["memory_requested_bs"] / GIB / 3600.0
    out["memory_usage_gib_hours"] = nodes["memory_usage_bs"] / GIB / 3600.0
    out["cpu_cost"] = nodes["cpu_cost"]
    out["memory_cost"] = nodes["memory_cost"]
    out["gpu_cost"] = nodes["gpu_cost"]
    out["total_cost"] = nodes["cost"]
    out["idle_cost"] = nodes["cpu_idle_cost"] + nodes["memory_idle_cost"] + nodes["gpu_idle_cost"]

    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a.astype(float) / b.astype(float).where(b > 0)).astype(float)

    out["cpu_allocation"] = ratio(nodes["cpu_requested_cs"], nodes["cpu_allocatable_cs"])
    usage_share = ratio(nodes["usage_seconds"], nodes["seconds"])
    out["cpu_utilization"] = ratio(nodes["cpu_usage_cs"], nodes["cpu_allocatable_cs"] * usage_share)
    out["memory_allocation"] = ratio(nodes["memory_requested_bs"], nodes["memory_allocatable_bs"])
    out["memory_utilization"] = ratio(nodes["memory_usage_bs"], nodes["memory_allocatable_bs"] * usage_share)
    out["cpu_overcommit_core_hours"] = nodes["cpu_overcommit_cs"] / 3600.0
    return out.sort_values("total_cost", ascending=False, kind="stable").reset_index(drop=True)


def render(frame: pd.DataFrame, fmt: str) -> str:
    """Return the report as CSV, JSON (records) or an aligned text table."""
    if fmt == "csv":
        return str(frame.to_csv(index=False, float_format="%.10g"))
    if fmt == "json":
        return str(frame.to_json(orient="records", indent=2, date_format="iso"))
    if frame.empty:
        return "(no rows)\n"
    return str(frame.to_string(index=False, float_format=lambda v: f"{v:,.4g}")) + "\n"


__all__ = ["KINDS", "UNALLOCATED", "ReportRequest", "build_report", "node_report", "periods", "render"]
