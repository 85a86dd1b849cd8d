"""Charts: plotly figures drawn by plotly.js's cartesian bundle rather than by ``st.plotly_chart``.

``st.plotly_chart`` loads Streamlit's chart code with the whole of plotly.js (4.7 MB: maps,
3-D, finance, ...). Evaluating it took 0.7-0.9 s of the browser's main thread on the first
render of every page with a chart. Every chart here is cartesian (bars, lines, markers, one
heatmap), which plotly.js-cartesian-dist-min draws: 1.5 MB, about 0.45 s to evaluate, the
same plotly.js version (4.1.1) plotly.py writes its figures for. It ships in
``dashboard/static`` (MIT, see ``dashboard/static/PLOTLY-LICENSE``), Streamlit serves it
(``server.enableStaticServing``, which ``capacity dashboard`` turns on) and a small component
(``st.components.v2``, no iframe) loads it once per page and draws each figure.

The figures are those of ``dashboard.figures`` and ``dashboard.capacity_figures`` (DataFrame
in, ``go.Figure`` out, in the app's template); ``show`` only sends them, as JSON.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from dashboard.figures import TEMPLATE

PLOTLY_JS = "plotly-cartesian-4.1.1.min.js"
SCRIPT_URL = f"app/static/{PLOTLY_JS}"  # relative to the app's base URL (Streamlit static serving)

# The component's JavaScript: a file of its own, read once (it is package data, like the bundle).
_JS = (resources.files("dashboard") / "static" / "capacity-chart.js").read_text(encoding="utf-8")
_CSS = ".capacity-chart { width: 100%; }"
_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}

_component = st.components.v2.component("capacity_chart", js=_JS, css=_CSS, isolate_styles=False)


# what plotly.js-cartesian draws (its package's README); other trace types draw nothing there
TRACE_TYPES = frozenset(
    {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image", "pie",
     "scatter", "scatterternary", "violin"}
)  # fmt: skip


def spec(fig: go.Figure) -> str:
    """Return the figure as the JSON the component draws (``dashboard.figures.TEMPLATE`` styles it)."""
    unsupported = {trace.type for trace in fig.data} - TRACE_TYPES
    if unsupported:
        raise ValueError(f"plotly.js-cartesian cannot draw {sorted(unsupported)}: see dashboard.charts")
    fig.update_layout(template=TEMPLATE)
    return str(pio.to_json(fig, validate=False))


def show(fig: go.Figure, *, key: str | None = None, container: Any = None) -> None:
    """Draw ``fig`` in ``container`` (an ``st.empty()``, a column, ...; the page by default)."""
    with container if container is not None else contextlib.nullcontext():
        _component(data={"figure": spec(fig), "src": SCRIPT_URL, "config": _CONFIG}, key=key, width="stretch")


def sent_figure(proto: Any) -> dict[str, Any]:
    """Return the figure a chart element carries (its ``BidiComponent`` proto), as a dict."""
    return dict(json.loads(json.loads(proto.json)["figure"]))
