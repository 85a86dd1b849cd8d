"""Cached access for the Capacity and Data health pages, and their URL filters.

The queries live in ``capacity.store.inventory`` and ``capacity.store.health``; these wrappers only open
a connection (through ``dashboard.data``'s cached engine) and cache the frames for a minute,
keyed by the URL and the filter values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from capacity.durations import duration_days
from capacity.store import health, inventory
from capacity.store.engine import translate_db_errors
from dashboard import data

TTL_SECONDS = 60
DEFAULT_WINDOW_DAYS = 14
MAX_WINDOW_DAYS = 3660

T = TypeVar("T")


def _read(url: str, query: Callable[[Any], T]) -> T:
    eng = data.engine(url)
    with translate_db_errors(eng.url), eng.connect() as conn:
        return query(conn)


# --- filters kept in the URL ---------------------------------------------------------------------


def _values(key: str) -> list[str]:
    try:
        raw: Iterable[str] = st.query_params.get_all(key)
    except Exception:  # query params unavailable (bare script run): no filter
        return []
    return [part.strip() for value in raw for part in str(value).split(",") if part.strip()]


def selected_clusters() -> tuple[str, ...]:
    """Return the clusters chosen in the sidebar, sorted; () = all.

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


def window_days() -> int:
    """Return the sidebar's window (``?window=14d``) in days."""
    values = _values("window")
    return parse_window_days(values[0] if values else None)


# --- capacity ------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def node_pools(url: str, clusters: tuple[str, ...]) -> pd.DataFrame:
    pricing = data.config().pricing
    return _read(url, lambda conn: inventory.node_pools(conn, clusters=clusters, pricing=pricing))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def node_packing(url: str, clusters: tuple[str, ...]) -> pd.DataFrame:
    return _read(url, lambda conn: inventory.node_packing(conn, clusters=clusters))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def pending_demand(url: str, clusters: tuple[str, ...]) -> pd.DataFrame:
    return _read(url, lambda conn: inventory.pending_demand(conn, clusters=clusters))


# --- data health ---------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def freshness(url: str, clusters: tuple[str, ...], days: int) -> pd.DataFrame:
    return _read(url, lambda conn: health.freshness(conn, clusters=clusters, days=days))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def snapshots_per_day(url: str, clusters: tuple[str, ...], days: int, end: datetime | None) -> pd.DataFrame:
    return _read(url, lambda conn: health.snapshots_per_day(conn, clusters=clusters, days=days, now=end))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def gaps(url: str, clusters: tuple[str, ...], days: int, end: datetime | None) -> pd.DataFrame:
    return _read(url, lambda conn: health.gaps(conn, clusters=clusters, days=days, now=end))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def collection_warnings(url: str, clusters: tuple[str, ...], days: int, end: datetime | None) -> pd.DataFrame:
    return _read(url, lambda conn: health.collection_warnings(conn, clusters=clusters, days=days, now=end))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def database_size(url: str) -> int | None:
    return _read(url, health.database_size)
