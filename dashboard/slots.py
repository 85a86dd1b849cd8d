"""Places for charts that fill in once their data is read.

On a session's first page the browser has not loaded plotly.js yet (1.5 MB of JavaScript,
fetched when the first chart arrives: see ``dashboard.charts``). Showing "Loading…" charts in their places
before the reports are read lets the browser fetch it while the server reads, and shows the
layout at once. Later runs keep the previous charts on screen until the new ones replace them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, figures

_SHOWN = "_loading_charts_shown"


def loading(*slots: Any) -> None:
    """Put a "Loading…" chart in each slot (``st.empty()``), on the session's first render only."""
    if st.session_state.get(_SHOWN):
        return
    for number, slot in enumerate(slots):
        charts.show(figures.loading(), key=f"loading_chart_{number}", container=slot)
    st.session_state[_SHOWN] = True
