"""Pure builders for the Capacity and Data health pages: DataFrame in, plotly Figure (or text) out.

No Streamlit here, so tests call them directly. Frames are the ones ``capacity.store.inventory``
and ``capacity.store.health`` return (CPU in cores, memory in bytes, times UTC).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from dashboard import numbers
from dashboard.figures import DATE_AXIS_PX, VALUE_AXIS_PX, fixed_margins, label_px, legend_px, short

GIB = 2.0**30
RESOURCES = {"cpu": ("CPU", "cores", 1.0), "memory": ("Memory", "GiB", GIB)}

# Colours mean the same on every chart: used, reserved but unused, free.
USED = "#2E7D32"
RESERVED = "#F9A825"
FREE = "#B0BEC5"
REQUESTED = "#1565C0"


# --- capacity ------------------------------------------------------------------------------------


def _scale(resource: str) -> tuple[str, str, float]:
    if resource not in RESOURCES:
        raise ValueError(f"resource must be one of {sorted(RESOURCES)}, not {resource!r}")
    return RESOURCES[resource]


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 16}}],
        height=240,
    )
    return fig


TOP_PX = 50  # the title
AXIS_TITLE_PX = 45  # tick values and the axis title under a plot
LEGEND_ROW_PX = 22


def _legend_below(fig: go.Figure, height: int, rows: int = 2) -> int:
    """Put the legend under the x axis, room for ``rows`` rows of it; return the bottom margin."""
    bottom = AXIS_TITLE_PX + rows * LEGEND_ROW_PX + 8
    plot = max(height - TOP_PX - bottom, 1)
    fig.update_layout(
        legend={
            "orientation": "h",
            "traceorder": "normal",
            "xref": "container",  # the whole figure's width, not only the plot's beside long labels
            "x": 0,
            "xanchor": "left",
            "y": -AXIS_TITLE_PX / plot,
            "yanchor": "top",
        }
    )
    return bottom


def _category_axis(fig: go.Figure, axis: str, names: list[str]) -> None:
    """Show category names cut (``short``) on an axis; the categories themselves stay whole."""
    fig.update_layout(
        {f"{axis}axis": {"tickmode": "array", "tickvals": names, "ticktext": [short(n) for n in names]}}
    )


def _pool_labels(pools: pd.DataFrame) -> pd.Series:
    multi = pools["cluster"].nunique() > 1
    return pools["cluster"] + " / " + pools["pool"] if multi else pools["pool"].astype(str)


def pool_capacity_figure(pools: pd.DataFrame, resource: str = "cpu") -> go.Figure:
    """Return a stacked horizontal bar per node pool: used, requested but unused, not requested.

    The three segments add up to the pool's allocatable; where usage is unknown the
    requested part is one segment.
    """
    name, unit, scale = _scale(resource)
    title = f"{name} by node pool ({unit})"
    if pools.empty:
        return _empty(title, "No nodes in the latest snapshots")
    frame = pools.iloc[::-1]  # plotly draws the first row at the bottom
    labels = _pool_labels(frame)
    allocatable = frame[f"{resource}_allocatable"] / scale
    requested = frame[f"{resource}_requested"] / scale
    used = (frame[f"{resource}_used"].astype("float64") / scale).clip(upper=requested)
    reserved_idle = requested - used.fillna(0.0)
    free = (allocatable - requested).clip(lower=0.0)
    fig = go.Figure()
    fig.add_bar(y=labels, x=used.fillna(0.0), name="Used", orientation="h", marker_color=USED)
    fig.add_bar(y=labels, x=reserved_idle, name="Requested, unused", orientation="h", marker_color=RESERVED)
    fig.add_bar(y=labels, x=free, name="Not requested", orientation="h", marker_color=FREE)
    fig.update_traces(hovertemplate="%{y}: %{x:,.1f} " + unit + "<extra>%{fullData.name}</extra>")
    height = max(260, 40 * len(frame) + 140)
    fig.update_layout(title=title, barmode="stack", xaxis_title=unit, height=height)
    _category_axis(fig, "y", list(labels))
    bottom = _legend_below(fig, height)
    return fixed_margins(fig, left=label_px(labels) + 15, right=20, top=TOP_PX, bottom=bottom)


def headroom_figure(pools: pd.DataFrame, resource: str = "cpu") -> go.Figure:
    """Return a bar per node pool of its headroom (allocatable − requested on schedulable nodes).

    A marker shows the most a single node can still take: the largest pod that fits now.
    """
    name, unit, scale = _scale(resource)
    title = f"{name} headroom by node pool ({unit})"
    if pools.empty:
        return _empty(title, "No nodes in the latest snapshots")
    frame = pools.sort_values(f"{resource}_headroom", ascending=True)
    labels = _pool_labels(frame)
    fig = go.Figure()
    fig.add_bar(
        y=labels,
        x=frame[f"{resource}_headroom"] / scale,
        name="Headroom in the pool",
        orientation="h",
        marker_color=FREE,
        hovertemplate="%{y}: %{x:,.1f} " + unit + " free<extra></extra>",
    )
    fig.add_scatter(
        y=labels,
        x=frame[f"largest_{resource}_free"] / scale,
        name="Largest free on one node",
        mode="markers",
        marker={"color": REQUESTED, "symbol": "diamond", "size": 10},
        hovertemplate="%{y}: one node has %{x:,.1f} " + unit + " free<extra></extra>",
    )
    height = max(260, 40 * len(frame) + 140)
    fig.update_layout(title=title, xaxis_title=unit, height=height)
    _category_axis(fig, "y", list(labels))
    bottom = _legend_below(fig, height)
    return fixed_margins(fig, left=label_px(labels) + 15, right=20, top=TOP_PX, bottom=bottom)


# one cell per node: the colour is the requested share (white empty, dark blue full)
PACKING_COLORS = [[0.0, "#F1F5FB"], [0.5, "#6BAED6"], [1.0, "#08306B"]]
PACKING_MAX_HEIGHT = 620


def _grid_columns(nodes: int) -> int:
    """Return how many node cells a row holds: about three times wider than tall, 10 to 100."""
    return max(10, min(100, math.ceil(math.sqrt(nodes * 3))))


def _percent(value: float | None) -> str:
    return "unknown" if value is None or math.isnan(value) else f"{value * 100:.0f} %"


def packing_figure(packing: pd.DataFrame, resource: str = "cpu", *, columns: int | None = None) -> go.Figure:
    """Return a heatmap of the nodes: one cell per node, a block of rows per pool, fullest first.

    The colour is the node's requested share of allocatable; the hover names the node and
    gives its pods and its requested and used shares. One image whatever the node count, so a
    5,000-node cluster draws as fast as a 50-node one (bars would be one SVG shape per node).
    """
    name = _scale(resource)[0]
    title = f"Node packing: {name} requested / allocatable (one cell per node, fullest first)"
    if packing.empty:
        return _empty(title, "No nodes in the latest snapshots")
    share, used = f"{resource}_requested_share", f"{resource}_used_share"
    width = columns or _grid_columns(len(packing))
    z: list[list[float | None]] = []
    hover: list[list[str]] = []
    ticks: list[int] = []
    labels: list[str] = []
    for pool, rows in packing.groupby("pool", sort=True):
        rows = rows.sort_values(share, ascending=False, na_position="last", kind="stable")
        ticks.append(len(z))
        labels.append(f"{short(str(pool), 22)} ({len(rows):,})")
        values = (rows[share].astype("float64") * 100).round(1).tolist()
        text = [
            f"{node} · {pods} pods<br>requested {_percent(r)}, used {_percent(u)}"
            for node, pods, r, u in zip(
                rows["node"],
                rows["pods"],
                rows[share].astype("float64"),
                rows[used].astype("float64"),
                strict=True,
            )
        ]
        for at in range(0, len(values), width):
            pad = width - len(values[at : at + width])
            z.append([None if v != v else v for v in values[at : at + width]] + [None] * pad)
            hover.append(text[at : at + width] + [""] * pad)
    cell = max(6, min(22, (PACKING_MAX_HEIGHT - 90) // len(z)))
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            colorscale=PACKING_COLORS,
            zmin=0,
            zmax=100,
            xgap=1,
            ygap=1,
            hoverongaps=False,  # the empty cells after a pool's last node
            colorbar={"title": {"text": "% requested"}, "thickness": 12},
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={
            "tickmode": "array",
            "tickvals": ticks,
            "ticktext": labels,
            "autorange": "reversed",
            "showgrid": False,
        },
        height=90 + cell * len(z),
    )
    return fixed_margins(fig, left=label_px(labels) + 15, right=110, top=TOP_PX, bottom=10)


def pending_figure(pending: pd.DataFrame, *, top: int = 20) -> go.Figure:
    """Return the workloads with the most unscheduled CPU as horizontal bars (pods in the hover)."""
    title = "Unscheduled demand by workload (CPU cores)"
    if pending.empty:
        return _empty(title, "No pending pods without a node")
    frame = pending.head(top).iloc[::-1]
    labels = frame["cluster"] + " · " + frame["namespace"] + "/" + frame["workload"]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=frame["cpu_requested"],
            orientation="h",
            marker_color=RESERVED,
            customdata=pd.DataFrame(
                {"pods": frame["pods"], "memory": [numbers.size(v) for v in frame["memory_requested"]]}
            ),
            hovertemplate="%{y}<br>%{x:,.2f} cores, %{customdata[1]} in %{customdata[0]} pods<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="cores requested", height=max(240, 32 * len(frame) + 120))
    _category_axis(fig, "y", list(labels))
    return fixed_margins(fig, left=label_px(labels) + 15, right=20, top=TOP_PX, bottom=AXIS_TITLE_PX)


# --- data health ---------------------------------------------------------------------------------


def snapshots_per_day_figure(per_day: pd.DataFrame) -> go.Figure:
    """Return snapshots per UTC day as grouped bars, one colour per cluster."""
    title = "Snapshots per day (UTC)"
    if per_day.empty:
        return _empty(title, "No snapshots in the window")
    fig = go.Figure()
    for cluster, rows in per_day.groupby("cluster", sort=True):
        fig.add_bar(
            x=rows["day"],
            y=rows["snapshots"],
            name=str(cluster),
            hovertemplate="%{x|%Y-%m-%d}: %{y:,} snapshots<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(
        title=title, barmode="group", yaxis_title="snapshots", xaxis={"tickformat": "%b %d"}, height=340
    )
    clusters = [str(c) for c in per_day["cluster"].unique()]
    return fixed_margins(fig, left=VALUE_AXIS_PX, right=legend_px(clusters), top=TOP_PX, bottom=DATE_AXIS_PX)


def gaps_figure(gaps: pd.DataFrame) -> go.Figure:
    """Return each collection gap as a horizontal bar from its last snapshot to the next one."""
    title = "Collection gaps"
    if gaps.empty:
        return _empty(title, "No gaps: every cluster collected on schedule")
    fig = go.Figure()
    for cluster, rows in gaps.groupby("cluster", sort=True):
        starts = pd.to_datetime(rows["gap_start"], utc=True)
        ends = pd.to_datetime(rows["gap_end"], utc=True)
        fig.add_bar(
            y=[str(cluster)] * len(rows),
            base=starts,
            x=(ends - starts).dt.total_seconds() * 1000,  # a date axis measures bar lengths in ms
            orientation="h",
            name=str(cluster),
            customdata=[numbers.duration(s) for s in rows["gap_seconds"]],
            hovertemplate="%{base|%Y-%m-%d %H:%M} for %{customdata}<extra>%{y}</extra>",
        )
    fig.update_layout(
        title=title,
        xaxis={"type": "date"},
        showlegend=False,
        height=max(220, 50 * gaps["cluster"].nunique() + 140),
    )
    clusters = [str(c) for c in gaps["cluster"].unique()]
    _category_axis(fig, "y", clusters)
    return fixed_margins(fig, left=label_px(clusters) + 15, right=20, top=TOP_PX, bottom=DATE_AXIS_PX)


def warnings_figure(warnings: pd.DataFrame) -> go.Figure:
    """Return warning counts per category, stacked per cluster."""
    title = "Collection warnings by kind"
    if warnings.empty:
        return _empty(title, "No collection warnings")
    counts = warnings.groupby(["category", "cluster"]).size().rename("warnings").reset_index()
    fig = go.Figure()
    for cluster, rows in counts.groupby("cluster", sort=True):
        fig.add_bar(
            x=rows["category"],
            y=rows["warnings"],
            name=str(cluster),
            hovertemplate="%{x}: %{y:,}<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(title=title, barmode="stack", yaxis_title="warnings", height=320)
    kinds = [str(k) for k in counts["category"].unique()]
    _category_axis(fig, "x", kinds)
    fig.update_xaxes(tickangle=0)
    clusters = [str(c) for c in counts["cluster"].unique()]
    return fixed_margins(fig, left=VALUE_AXIS_PX, right=legend_px(clusters), top=TOP_PX, bottom=35)
