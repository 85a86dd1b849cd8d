"""Plotly figures, built by pure functions (DataFrame in, Figure out) that tests call directly.

Every team keeps one colour in every chart: ``team_color`` hashes the name into a fixed
palette (the same name gives the same colour in every session and on every page).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from capacity.analysis.attribution import UNALLOCATED
from capacity.analysis.costs import IDLE, SHARED

# The dashboard's look, for every figure (dashboard.charts draws them in it): the page's own
# background and text colour (light or dark theme), a faint grid, Streamlit's font, titles on
# the left. A template of a few layout settings: plotly's own ("plotly", "plotly_white") carry
# defaults for every trace type, several kilobytes in every figure sent to the browser, and
# Streamlit's ("streamlit", the default once Streamlit is imported) holds placeholder colours
# that only st.plotly_chart replaces.
TEMPLATE = "capacity"
_GRID = "rgba(128, 128, 128, 0.2)"  # light on a light theme, dark on a dark one
_AXIS = {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID, "zerolinewidth": 2, "ticks": ""}
pio.templates[TEMPLATE] = go.layout.Template(
    layout={
        "font": {"family": '"Source Sans", "Source Sans Pro", sans-serif', "color": "#31333F"},
        "title": {"x": 0, "xref": "container", "xanchor": "left", "pad": {"l": 4}, "font": {"size": 16}},
        "paper_bgcolor": "rgba(0, 0, 0, 0)",  # the page's background, whatever the theme
        "plot_bgcolor": "rgba(0, 0, 0, 0)",
        "colorway": list(qualitative.Plotly),
        "hoverlabel": {"align": "left"},
        "xaxis": _AXIS,
        "yaxis": _AXIS,
    }
)

OTHER = "other"
# grey (and olive) mean idle, unallocated, shared and "other": drop them from the palettes
_RESERVED = {"#7F7F7F", "RGB(165,170,153)", "#BAB0AC", "#BCBD22"}
PALETTE: tuple[str, ...] = tuple(
    dict.fromkeys(
        c
        for c in (*qualitative.Plotly, *qualitative.D3, *qualitative.Bold, *qualitative.Vivid)
        if c.upper().replace(" ", "") not in _RESERVED
    )
)
FIXED_COLORS = {IDLE: "#c7c7c7", UNALLOCATED: "#7f7f7f", SHARED: "#bcbd22", OTHER: "#9e9e9e"}
_LAYOUT = {"legend": {"traceorder": "normal"}}  # margins: fixed_margins (an empty figure: _empty)
# Room for labels, from their length: a 12 px label character (Streamlit's Source Sans) is under
# 7 px wide. A legend entry adds its symbol and padding.
CHAR_PX = 7
LEGEND_ENTRY_PX = 65  # the gap to the plot, the symbol and the padding
LABEL_CHARS = 30  # longer names are cut in legends and on axes ("…"); hovers keep them whole
VALUE_AXIS_PX = 75  # tick values such as "12.5k" and the axis title beside them
DATE_AXIS_PX = 50  # dates, with the year on a second line under the first tick


def short(name: str, chars: int = LABEL_CHARS) -> str:
    """Return ``name`` cut to ``chars`` characters (with "…") for a legend or an axis."""
    return name if len(name) <= chars else name[: chars - 1] + "…"


def label_px(labels: Iterable[str]) -> int:
    """Return the width in pixels of the longest label (as ``short`` shows it)."""
    return CHAR_PX * max((len(short(str(label))) for label in labels), default=0)


def fixed_margins(
    fig: go.Figure, *, left: int, right: int, top: int = 40, bottom: int = DATE_AXIS_PX
) -> go.Figure:
    """Set the margins from the labels and turn plotly's automatic margins off.

    Otherwise plotly.js draws the chart, measures its legend and tick labels, grows the margins
    to fit them and draws the chart again: in Chromium a third of a chart's drawing time.
    """
    fig.update_layout(margin={"l": left, "r": right, "t": top, "b": bottom, "autoexpand": False})
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig


def legend_px(names: Iterable[str]) -> int:
    """Return the width of a vertical legend of ``names`` (as ``short`` shows them)."""
    return LEGEND_ENTRY_PX + label_px(names)


def team_color(name: str) -> str:
    """Return the colour of a team (or any series name); deterministic across runs and pages."""
    if name in FIXED_COLORS:
        return FIXED_COLORS[name]
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def color_map(names: Iterable[str]) -> dict[str, str]:
    return {str(n): team_color(str(n)) for n in names}


def top_with_other(frame: pd.DataFrame, key: str, value: str, top: int) -> pd.Series:
    """Return ``key`` with all but the ``top`` largest by ``value`` (summed) renamed to ``other``.

    The idle row is never folded into ``other``: it stays its own grey band.
    """
    totals = frame.groupby(key)[value].sum().sort_values(ascending=False)
    ranked = [k for k in totals.index if k != IDLE]
    keep = set(ranked[:top]) | {IDLE}
    return frame[key].where(frame[key].isin(keep), OTHER).astype(str)


def _empty(title: str, message: str = "No data in this window") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **_LAYOUT)
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def loading(title: str = "") -> go.Figure:
    """An empty chart that says it is loading: shown in a chart's place while its data is read.

    Sending it first also makes the browser fetch the plotly library while the server reads.
    """
    return _empty(title, "Loading…")


def _period_hours(period_starts: Sequence[str], end: datetime | None) -> dict[str, float]:
    """Return each period's length in hours (the last one ends at ``end``)."""
    starts = sorted(set(period_starts))
    stamps = [pd.Timestamp(s) for s in starts]
    out = {}
    for i, (label, stamp) in enumerate(zip(starts, stamps, strict=True)):
        if i + 1 < len(stamps):
            nxt = stamps[i + 1]
        elif end is not None:
            nxt = pd.Timestamp(end)
        else:
            nxt = stamp + pd.Timedelta(days=1)
        out[label] = max((nxt - stamp).total_seconds() / 3600.0, 1e-9)
    return out


def cost_over_time(
    frame: pd.DataFrame, *, key: str = "team", top: int = 8, currency: str = "USD", title: str | None = None
) -> go.Figure:
    """Stacked bars of ``total_cost`` per period (a ``--step day`` report), top N ``key`` + other."""
    title = title or f"Cost per day by {key} ({currency})"
    if frame.empty or "period_start" not in frame:
        return _empty(title)
    df = frame[["period_start", key, "total_cost"]].copy()
    df[key] = top_with_other(df, key, "total_cost", top)
    df = df.groupby(["period_start", key])["total_cost"].sum().reset_index()
    order = df.groupby(key)["total_cost"].sum().sort_values(ascending=False).index.tolist()
    order = [k for k in order if k not in (OTHER, IDLE)] + [k for k in (OTHER, IDLE) if k in order]
    fig = go.Figure()
    for name in order:
        part = df[df[key] == name].sort_values("period_start")
        fig.add_bar(
            x=pd.to_datetime(part["period_start"]),
            y=part["total_cost"],
            name=short(name),
            marker_color=team_color(name),
            hovertemplate=f"{name}<br>%{{x|%Y-%m-%d}}: %{{y:,.2f}} {currency}<extra></extra>",
        )
    fig.update_layout(title=title, barmode="stack", yaxis_title=currency, **_LAYOUT)
    return fixed_margins(fig, left=VALUE_AXIS_PX, right=legend_px(order))


def cost_bars(
    frame: pd.DataFrame, *, key: str = "team", top: int = 20, currency: str = "USD", title: str | None = None
) -> go.Figure:
    """Horizontal bars of ``total_cost`` per ``key`` (largest on top), one colour per name."""
    title = title or f"Cost by {key} ({currency})"
    if frame.empty:
        return _empty(title)
    df = frame.groupby(key)["total_cost"].sum().reset_index()
    df = df.sort_values("total_cost", ascending=False).head(top).iloc[::-1]
    names = df[key].astype(str)
    fig = go.Figure(
        go.Bar(
            x=df["total_cost"],
            y=names,
            orientation="h",
            marker_color=[team_color(n) for n in names],
            hovertemplate=f"%{{y}}: %{{x:,.2f}} {currency}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title=currency, height=max(300, 24 * len(df) + 80), **_LAYOUT)
    fig.update_yaxes(tickmode="array", tickvals=list(names), ticktext=[short(n) for n in names])
    return fixed_margins(fig, left=label_px(names) + 15, right=20)


def capacity_over_time(
    nodes: pd.DataFrame, *, resource: str = "cpu", end: datetime | None = None
) -> go.Figure:
    """Allocatable, requested and used per period (a ``clusters`` or ``nodes --step day`` report), as average
    cores/GiB.

    Core-hours in a period divided by the period's hours, so a partial first or last day does
    not look like a dip.
    """
    unit, suffix = ("cores", "core_hours") if resource == "cpu" else ("GiB", "gib_hours")
    title = f"{'CPU' if resource == 'cpu' else 'Memory'}: allocatable, requested and used ({unit}, average)"
    columns = [f"{resource}_{m}_{suffix}" for m in ("allocatable", "requested", "usage")]
    if nodes.empty or "period_start" not in nodes or any(c not in nodes for c in columns):
        return _empty(title)
    per = nodes.groupby("period_start")[columns].sum().sort_index()
    hours = _period_hours(list(per.index), end)
    per = per.div(pd.Series(hours), axis=0)
    x = pd.to_datetime(pd.Series(per.index))
    fig = go.Figure()
    styles = {
        "allocatable": ("#2ca02c", "dash"),
        "requested": ("#1f77b4", "solid"),
        "usage": ("#ff7f0e", "solid"),
    }
    for column in columns:
        measure = column.split("_")[1]
        color, dash = styles[measure]
        fig.add_scatter(
            x=x,
            y=per[column].to_numpy(),
            name={"usage": "used"}.get(measure, measure),
            mode="lines+markers",
            line={"color": color, "dash": dash},
            hovertemplate=f"%{{x|%Y-%m-%d}}: %{{y:,.2f}} {unit}<extra>{measure}</extra>",
        )
    fig.update_layout(title=title, yaxis_title=unit, yaxis_rangemode="tozero", **_LAYOUT)
    return fixed_margins(fig, left=VALUE_AXIS_PX, right=legend_px(["allocatable", "requested", "used"]))


def request_vs_usage(
    frame: pd.DataFrame, *, label: Sequence[str], resource: str = "cpu", top: int = 15
) -> go.Figure:
    """Grouped bars of requested vs used core-hours (GiB-hours) per row, the largest requests first."""
    unit = "core-hours" if resource == "cpu" else "GiB-hours"
    suffix = "core_hours" if resource == "cpu" else "gib_hours"
    request, usage = f"{resource}_request_{suffix}", f"{resource}_usage_{suffix}"
    title = f"{'CPU' if resource == 'cpu' else 'Memory'} requested vs used ({unit})"
    if frame.empty or request not in frame:
        return _empty(title)
    df = frame[frame.get("team", pd.Series("", index=frame.index)) != IDLE]
    names = df[list(label)].astype(str).agg("/".join, axis=1)
    df = df.assign(_name=names).groupby("_name", as_index=False)[[request, usage]].sum()
    df = df.sort_values(request, ascending=False).head(top)
    fig = go.Figure()
    hover = f"%{{x}}: %{{y:,.1f}} {unit}<extra>%{{fullData.name}}</extra>"
    fig.add_bar(x=df["_name"], y=df[request], name="requested", marker_color="#1f77b4", hovertemplate=hover)
    fig.add_bar(x=df["_name"], y=df[usage], name="used", marker_color="#ff7f0e", hovertemplate=hover)
    fig.update_layout(title=title, barmode="group", yaxis_title=unit, **_LAYOUT)
    # names shown cut and slanted at a fixed angle, so their room below the axis is known
    fig.update_xaxes(
        tickmode="array", tickvals=list(df["_name"]), ticktext=[short(n) for n in df["_name"]], tickangle=-40
    )
    angle = math.radians(40)
    slanted = int(label_px(df["_name"]) * math.sin(angle)) + 25
    # a slanted name reaches left of its bar: room for the longest beside the axis
    reach = int(label_px(df["_name"]) * math.cos(angle)) + 10
    return fixed_margins(
        fig, left=max(VALUE_AXIS_PX, reach), right=legend_px(["requested", "used"]), bottom=slanted
    )
