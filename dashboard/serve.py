"""``streamlit run dashboard/app.py FLAGS``, with the dashboard's heavy modules imported first.

``capacity dashboard`` execs ``python -m dashboard.serve FLAGS``. This module imports what
every page needs (pandas, plotly, SQLAlchemy and the ``capacity`` queries and reports, the
dashboard's figure modules), then runs Streamlit's own command line in the same process.
Streamlit runs the app in this interpreter, so the first visitor's script run finds those
modules in ``sys.modules`` instead of spending a second or more importing them. Only modules
are imported: no database is opened and no cache is filled. ``dashboard/app.py`` and the page
modules are not imported here: the app calls ``st.*`` at import, and pages are for Streamlit
to load.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")

# What the pages import, minus what must wait for Streamlit's runtime: dashboard.data and
# .filters declare st.cache_data functions, and declaring one outside a
# running server logs "No runtime found" and validates it against a throwaway cache store.
# Their own imports (capacity.config, .store, .reports, .tables) are here, so what the first run still
# imports is only those thin modules and the pages. SQLAlchemy comes in through capacity.*
# (the dashboard never imports it itself: see the import-linter contracts in pyproject.toml).
PRELOAD = (
    "pandas",
    "plotly.graph_objects",
    "capacity.config",
    "capacity.store.engine",
    "capacity.store.status",
    "capacity.reports",
    "capacity.tables",
    "capacity.analysis.costs",
    "capacity.store.inventory",
    "capacity.store.health",
    "dashboard.figures",
    "dashboard.summary",
    "dashboard.capacity_figures",
    "dashboard.charts",  # declares its component: Streamlit registers it again on the running server
)


def preload(modules: Sequence[str] = PRELOAD) -> list[str]:
    """Import ``modules``; return one line per module that failed to import.

    A failure is not fatal: the page that needs the module imports it again and shows the error.
    """
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return failed


def warm_plotly() -> None:
    """Build and serialize a figure with the trace and layout properties the pages use.

    plotly imports one validator module per property the first time it is set (about 0.15 s
    for a page's figures); doing it here spares the first visitor. No data is involved.
    """
    import pandas as pd
    import plotly.graph_objects as go
    import plotly.io as pio

    # pandas inputs, as the pages pass: plotly converts them through narwhals
    x, y = pd.Series([0]), pd.Series([1.0])
    labels = pd.DataFrame({"name": ["a"]})
    fig = go.Figure()
    fig.add_bar(
        x=x,
        y=y,
        name="bar",
        width=0.9,
        customdata=labels,
        hovertemplate="%{y}<extra></extra>",
        marker={"color": "#1f77b4"},
        orientation="v",
        text=["1"],
        textposition="auto",
    )
    fig.add_scatter(
        x=pd.to_datetime(pd.Series(["2026-01-01"])),
        y=y.to_numpy(),
        name="line",
        mode="lines+markers",
        line={"color": "#ff7f0e", "dash": "dash"},
        marker={"color": "black", "size": 4},
        stackgroup="one",
        customdata=labels,
    )
    fig.add_annotation(text="warm", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title="warm",
        barmode="stack",
        bargap=0.05,
        height=300,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
        xaxis={"title": "x", "showticklabels": False},
        yaxis={"title": "y", "rangemode": "tozero"},
        yaxis_title="y",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    pio.to_json(fig, validate=False)


def quiet_direct_run_check() -> None:
    """Skip Streamlit's one-off "are we in a REPL?" check on the first element of the first run.

    Streamlit asks it once per process, to warn people who run an app with ``python app.py``.
    It calls ``inspect.stack()``, which looks up the module of every frame by scanning
    ``sys.modules``: with the preloaded modules (1,500) that costs 0.05-0.1 s of the first
    visitor's render. ``streamlit run`` is exactly how this process serves, so there is nothing
    to warn about. A Streamlit without the flag is left as it is.
    """
    from streamlit import delta_generator

    if hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True


def streamlit_argv(flags: Sequence[str]) -> list[str]:
    """Return the ``sys.argv`` of ``streamlit run dashboard/app.py FLAGS``.

    Static serving is on: the charts' plotly.js comes from ``dashboard/static`` (``dashboard.charts``).
    """
    return ["streamlit", "run", str(APP), "--server.enableStaticServing", "true", *flags]


def main(flags: Sequence[str] | None = None) -> None:
    for problem in preload():
        print(f"dashboard: could not preload {problem}", file=sys.stderr, flush=True)
    try:
        warm_plotly()
    except Exception as exc:  # an optimisation: the pages build their figures anyway
        print(f"dashboard: could not warm plotly: {exc}", file=sys.stderr, flush=True)
    from streamlit.web import cli

    quiet_direct_run_check()
    # Everything imported so far lives as long as the process. Out of the collector's way, the
    # full collection Streamlit runs after every script run ("runner.postScriptGC") walks only
    # what the runs allocate: 0.09 s less with the GIL held, on the first render and every rerun.
    gc.freeze()
    sys.argv = streamlit_argv(sys.argv[1:] if flags is None else flags)
    # What `python -m streamlit` does; click exits the process when the server stops.
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
