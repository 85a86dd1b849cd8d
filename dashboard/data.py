"""Cached access to the store: one engine per URL, report results cached for a short TTL.

Pages call these wrappers, never SQL. Filters are plain hashable values (the URL, window
bounds rounded to the minute, tuples of clusters and teams) so that they key the cache.
Every number a page shows comes from ``capacity.reports.build_report``; no page reads raw
snapshot rows. Reports over windows with the same end and clusters share their database reads
(``capacity.reports.Reads``, kept as long as the reports' cache), so a page's several reports,
and the sidebar's team list, read each window once, and a change of window length does not
right-size again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from capacity.config import Config, load_config
from capacity.reads import Reads
from capacity.reports import ReportRequest, build_report, team_names
from capacity.store import health, inventory
from capacity.store.engine import masked, open_store, resolve_url, translate_db_errors
from capacity.store.status import cluster_status
from capacity.tables import render as render_report

# Collectors write every few minutes; a minute of staleness is invisible and saves queries.
TTL_SECONDS = 60
T = TypeVar("T")


def database_url() -> str:
    """Return the database URL the dashboard was started with (or the default)."""
    return resolve_url(os.environ.get("CAPACITY_DATABASE_URL"))


def display_url() -> str:
    return masked(database_url())


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Any:
    return open_store(url, must_exist=True)


def _read(url: str, query: Callable[[Any], T]) -> T:
    """Return ``query(conn)`` on a connection of the URL's engine, store errors as CapacityError."""
    eng = engine(url)
    with translate_db_errors(eng.url), eng.connect() as conn:
        return query(conn)


@st.cache_resource(show_spinner=False)
def _config(path: str | None) -> Config:
    return load_config(path)


def config() -> Config:
    """Return the configuration named by ``$CAPACITY_CONFIG`` (or the defaults), read once."""
    return _config(os.environ.get("CAPACITY_CONFIG") or None)


def currency() -> str:
    return config().pricing.currency


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def status_frame(url: str) -> pd.DataFrame:
    """Return one row per cluster: snapshots held and the latest snapshot's totals."""
    rows = _read(url, cluster_status)
    return pd.DataFrame(
        [
            {
                "cluster": r.cluster,
                "snapshots": r.snapshots,
                "first_snapshot": r.first_snapshot,
                "latest_snapshot": r.latest_snapshot,
                "nodes": r.nodes,
                "pods": r.pods,
                "pending_pods": r.pending_pods,
                "containers": r.containers,
                "cpu_allocatable_cores": r.cpu_allocatable_cores,
                "cpu_requested_cores": r.cpu_requested_cores,
                "cpu_usage_cores": r.cpu_usage_cores,
                "memory_allocatable_gib": r.memory_allocatable_bytes / 2**30,
                "memory_requested_gib": r.memory_requested_bytes / 2**30,
                "memory_usage_gib": None if r.memory_usage_bytes is None else r.memory_usage_bytes / 2**30,
                "warnings": len(r.warnings),
            }
            for r in rows
        ]
    )


@st.cache_resource(ttl=TTL_SECONDS, show_spinner=False, max_entries=16)
def window_reads(url: str, end: datetime, clusters: tuple[str, ...]) -> Reads:
    """Return the shared reads of the windows ending at ``end`` for a cluster selection.

    Every team filter and every window length uses them: each read is keyed by its own bounds,
    and the recommendations, which end where the window ends whatever its start, are computed
    once for all window lengths.
    """
    return Reads(config().pricing)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def teams_in_window(url: str, start: datetime, end: datetime, clusters: tuple[str, ...]) -> list[str]:
    """Return the teams with containers in the window (the sidebar's choices)."""
    reads = window_reads(url, end, clusters)
    return _read(url, lambda conn: team_names(conn, start, end, clusters, config(), reads=reads))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=256)
def report(
    url: str,
    kind: str,
    start: datetime,
    end: datetime,
    clusters: tuple[str, ...] = (),
    teams: tuple[str, ...] = (),
    step: str | None = None,
    idle: str = "separate",
) -> pd.DataFrame:
    """Return ``capacity report KIND`` for the window: the same rows and columns as the CLI."""
    request = ReportRequest(
        kind=kind,
        start=start,
        end=end,
        clusters=clusters,
        teams=teams,
        step=step,  # type: ignore[arg-type]
        idle=idle,  # type: ignore[arg-type]
    )
    reads = window_reads(url, end, clusters)
    return _read(url, lambda conn: build_report(conn, request, config(), reads=reads))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return the frame as the CLI writes it (``capacity report ... --format csv``)."""
    return render_report(frame, "csv").encode()


def download_csv(frame: pd.DataFrame, file_name: str, *, key: str, label: str = "Download CSV") -> None:
    """The one CSV download button: ``frame`` as the CLI writes it, as ``file_name`` (.csv added)."""
    name = file_name if file_name.endswith(".csv") else f"{file_name}.csv"
    st.download_button(label, csv_bytes(frame), file_name=name, mime="text/csv", key=key)


# The Capacity and Data health pages' reads: the queries live in capacity.store.inventory and
# capacity.store.health.
# --- capacity ------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def node_pools(url: str, clusters: tuple[str, ...]) -> pd.DataFrame:
    pricing = config().pricing
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
