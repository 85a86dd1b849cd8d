"""Filters shared by every page, kept in the URL so that a link reproduces a view.

URL parameters: ``window`` (1d, 7d, 14d, 30d), ``cluster`` and ``team`` (repeated); the
Teams page's ``idle`` mode and drill-down ``focus_team``, ``focus_namespace``
(``cluster/namespace``) and ``focus_workload`` (``kind/name``); the Savings page's ``action``,
``rec_cluster`` and ``rec_team``. The window ends at the newest snapshot of the selected
clusters (rounded up to the minute), so a fleet that stopped collecting still shows its
last days rather than an empty chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from capacity.durations import duration_days
from dashboard import data

WINDOWS: dict[str, int] = {"1d": 1, "7d": 7, "14d": 14, "30d": 30}
DEFAULT_WINDOW = "7d"
DRILL_DOWN = ("focus_team", "focus_namespace", "focus_workload")
# URL parameters that belong to one page (by url_path); other pages drop them from the link
PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "teams": ("idle", *DRILL_DOWN),
    "savings": ("action", "rec_cluster", "rec_team"),
}
_LOADED = "_filters_loaded_from_url"
DEFAULT_WINDOW_DAYS = 14  # of a link without a readable window, for a page run on its own
MAX_WINDOW_DAYS = 3660


@dataclass(frozen=True, slots=True)
class Filters:
    url: str
    window: str
    start: datetime
    end: datetime  # exclusive
    clusters: tuple[str, ...]
    teams: tuple[str, ...]
    first_snapshot: datetime | None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def covered_hours(self) -> float:
        """Hours of the window that the database holds (the window clipped to the first snapshot)."""
        start = max(self.start, self.first_snapshot) if self.first_snapshot is not None else self.start
        return max((self.end - start).total_seconds() / 3600.0, 0.0)

    def report(self, kind: str, *, step: str | None = None, idle: str = "separate") -> pd.DataFrame:
        """Return ``capacity report KIND`` over this window, clusters and teams (cached)."""
        return data.report(self.url, kind, self.start, self.end, self.clusters, self.teams, step, idle)


def window_bounds(latest: datetime, window: str) -> tuple[datetime, datetime]:
    """Return [start, end): ``window`` days ending just after ``latest``, at whole minutes."""
    latest = latest.astimezone(UTC) if latest.tzinfo else latest.replace(tzinfo=UTC)
    end = latest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - timedelta(days=WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])), end


def _utc(value: object) -> datetime | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def param(name: str) -> str | None:
    return st.query_params.get(name)


def set_param(name: str, value: str | Sequence[str] | None) -> None:
    """Write one URL parameter (a list repeats the key); None or empty removes it."""
    if value is None or (not isinstance(value, str) and len(value) == 0):
        if name in st.query_params:
            del st.query_params[name]
        return
    if isinstance(value, str):
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    elif st.query_params.get_all(name) != list(value):
        st.query_params[name] = list(value)


def clear_other_pages(url_path: str) -> None:
    """Drop the URL parameters of pages other than ``url_path`` (the link names one view)."""
    for page, names in PAGE_PARAMS.items():
        if page != url_path:
            for name in names:
                set_param(name, None)


def _keep_known(key: str, options: Sequence[str]) -> None:
    """Drop selections (from a stale link or a previous window) that are no longer offered."""
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]


def sidebar(status: pd.DataFrame) -> Filters:
    """Render the shared filters in the sidebar and return them (also written to the URL)."""
    url = data.database_url()
    all_clusters = sorted(str(c) for c in status["cluster"])
    if not st.session_state.get(_LOADED):
        # first run of this session: the link decides
        window = param("window")
        st.session_state["f_window"] = window if window in WINDOWS else DEFAULT_WINDOW
        st.session_state["f_clusters"] = [c for c in st.query_params.get_all("cluster") if c in all_clusters]
        st.session_state["f_teams"] = list(st.query_params.get_all("team"))
        st.session_state[_LOADED] = True

    st.sidebar.header("Filters")
    window = st.sidebar.segmented_control(
        "Window",
        list(WINDOWS),
        key="f_window",
        help="Days of history, ending at the newest snapshot of the selected clusters.",
    )
    window = window if window in WINDOWS else DEFAULT_WINDOW
    _keep_known("f_clusters", all_clusters)
    clusters = tuple(
        st.sidebar.multiselect("Clusters", all_clusters, key="f_clusters", placeholder="All clusters")
    )
    scope = status[status["cluster"].isin(clusters)] if clusters else status
    latest = _utc(scope["latest_snapshot"].max()) or datetime.now(UTC)
    first = _utc(scope["first_snapshot"].min())
    start, end = window_bounds(latest, window)

    team_options = list(data.teams_in_window(url, start, end, clusters))
    pending = [t for t in st.session_state.get("f_teams", []) if t not in team_options]
    team_options += pending  # a linked team with no cost in this window stays selected
    teams = tuple(st.sidebar.multiselect("Teams", team_options, key="f_teams", placeholder="All teams"))
    st.sidebar.caption(f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC")

    set_param("window", window)
    set_param("cluster", list(clusters))
    set_param("team", list(teams))
    return Filters(url, window, start, end, clusters, teams, first)


def rendered() -> Filters | None:
    """Return the filters app.py rendered for this run, or None (a page run on its own)."""
    filters = st.session_state.get("_filters")
    return filters if isinstance(filters, Filters) else None


def current() -> Filters:
    """Return the filters app.py rendered for this run."""
    filters = rendered()
    if filters is None:
        raise RuntimeError("filters not rendered: run the dashboard through dashboard/app.py")
    return filters


def url_selectbox(label: str, options: Sequence[str], key: str, *, help: str | None = None) -> str | None:
    """A selectbox whose choice lives in the URL parameter ``key`` (a link reopens it)."""
    options = list(options)
    if key not in st.session_state:
        st.session_state[key] = param(key)
    if st.session_state[key] not in options:
        st.session_state[key] = None
    choice = st.selectbox(label, options, key=key, index=None, placeholder="Choose…", help=help)
    set_param(key, choice)
    return choice


# --- a page run on its own (tests, ``streamlit run`` of one view): the link's filters ----------


def _values(key: str) -> list[str]:
    try:
        raw: Iterable[str] = st.query_params.get_all(key)
    except Exception:  # query params unavailable (bare script run): no filter
        return []
    return [part.strip() for value in raw for part in str(value).split(",") if part.strip()]


def _url_clusters() -> tuple[str, ...]:
    """Return the clusters a link names, sorted; () = all.

    Read from ``?cluster=a&cluster=b`` (what the sidebar writes) or ``?clusters=a,b``.
    """
    return tuple(sorted(set(_values("cluster") + _values("clusters"))))


def parse_window_days(value: str | None) -> int:
    """Return the window in whole days from '14d', '2w', '48h', '30' (days); 14 when unreadable.

    The grammar of every duration (``capacity.durations``): "m" is minutes, so '90m' is a day.
    """
    try:
        days = duration_days(value or "")
    except ValueError:
        return DEFAULT_WINDOW_DAYS
    return max(1, min(MAX_WINDOW_DAYS, days))


def _url_window_days() -> int:
    """Return the window a link names (``?window=14d``) in days."""
    values = _values("window")
    return parse_window_days(values[0] if values else None)


def selected_clusters() -> tuple[str, ...]:
    """Return the clusters the page shows: the sidebar's, or the link's for a page run on its own."""
    filters = rendered()
    return filters.clusters if filters is not None else _url_clusters()


def window_days() -> int:
    """Return the window the page shows in days: the sidebar's, or the link's for a page run on its own."""
    filters = rendered()
    return WINDOWS.get(filters.window, WINDOWS[DEFAULT_WINDOW]) if filters is not None else _url_window_days()
