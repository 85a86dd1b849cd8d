"""Cached access to the store: one engine per URL, query results cached for a short TTL.

Pages call these wrappers, never SQL. Filters are plain hashable values so that they key
the cache.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import streamlit as st

from capacity.db.engine import masked, open_store, resolve_url, translate_db_errors
from capacity.db.queries import cluster_status

# Collectors write every few minutes; a minute of staleness is invisible and saves queries.
TTL_SECONDS = 60


def database_url() -> str:
    """Return the database URL the dashboard was started with (or the default)."""
    return resolve_url(os.environ.get("CAPACITY_DATABASE_URL"))


def display_url() -> str:
    return masked(database_url())


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Any:
    return open_store(url)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def status_frame(url: str) -> pd.DataFrame:
    """Return one row per cluster: snapshots held and the latest snapshot's totals."""
    eng = engine(url)
    with translate_db_errors(eng.url), eng.connect() as conn:
        rows = cluster_status(conn)
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
