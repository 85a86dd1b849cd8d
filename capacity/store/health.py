"""How healthy the collected data is: freshness, snapshots per day, gaps, warnings, database size.

These read only the ``snapshots`` table (one row per collection, not per pod or container),
so pulling its timestamps for a window is cheap; medians and gaps are computed with pandas
because a median is not portable SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, func, literal, select, text
from sqlalchemy.sql.elements import ColumnElement

from capacity.store import schema as m
from capacity.store.latest import latest_snapshots

# A gap is a pause between consecutive snapshots longer than this many median intervals.
GAP_FACTOR = 2.0

FRESHNESS_COLUMNS = [
    "cluster", "snapshots", "first_snapshot", "latest_snapshot", "age_seconds", "median_interval_seconds",
    "nodes", "pods", "pending_pods", "usage_known", "warnings",
]  # fmt: skip
PER_DAY_COLUMNS = ["cluster", "day", "snapshots"]
GAP_COLUMNS = [
    "cluster",
    "gap_start",
    "gap_end",
    "gap_seconds",
    "median_interval_seconds",
    "missed_snapshots",
]
WARNING_COLUMNS = ["cluster", "taken_at", "category", "message"]

METRICS_MISSING = "metrics missing"
RBAC_DEGRADED = "RBAC degraded"
MALFORMED = "malformed object"
OTHER = "other"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _cluster_filter(clusters: Sequence[str]) -> ColumnElement[bool]:
    return m.Cluster.name.in_(tuple(clusters)) if clusters else literal(True)


def _median_intervals(times: pd.DataFrame) -> pd.Series:
    """Return the median seconds between consecutive snapshots per cluster (from cluster, taken_at)."""
    deltas = times.groupby("cluster")["taken_at"].diff().dt.total_seconds()
    medians: pd.Series = deltas.groupby(times["cluster"]).median()
    return medians


def _snapshot_times(conn: Connection, *, clusters: Sequence[str], since: datetime | None) -> pd.DataFrame:
    query = (
        select(m.Cluster.name.label("cluster"), m.Snapshot.taken_at)
        .join(m.Cluster, m.Cluster.id == m.Snapshot.cluster_id)
        .where(_cluster_filter(clusters))
        .order_by(m.Cluster.name, m.Snapshot.taken_at)
    )
    if since is not None:
        query = query.where(m.Snapshot.taken_at >= since)
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=["cluster", "taken_at"])
    frame["taken_at"] = pd.to_datetime(frame["taken_at"], utc=True)
    return frame


def freshness(
    conn: Connection, *, clusters: Sequence[str] = (), now: datetime | None = None, days: int = 14
) -> pd.DataFrame:
    """Return one row per cluster: snapshots held, the latest one's time, age and totals.

    ``median_interval_seconds`` is measured over the ``days`` days up to the cluster's latest
    snapshot; ``age_seconds`` is ``now`` − latest snapshot; ``warnings`` counts
    the latest snapshot's collection warnings.
    """
    now = _now(now)
    latest = latest_snapshots(clusters)
    query = (
        select(
            m.Cluster.name.label("cluster"),
            latest.c.snapshots,
            latest.c.first_snapshot,
            latest.c.taken_at.label("latest_snapshot"),
            m.Snapshot.node_count.label("nodes"),
            m.Snapshot.pod_count.label("pods"),
            m.Snapshot.pending_pod_count.label("pending_pods"),
            m.Snapshot.usage_known,
            m.Snapshot.warnings,
        )
        .join(latest, latest.c.cluster_id == m.Cluster.id)
        .join(m.Snapshot, m.Snapshot.id == latest.c.snapshot_id)
        .order_by(m.Cluster.name)
    )
    frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=FRESHNESS_COLUMNS)
    for column in ("first_snapshot", "latest_snapshot"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["age_seconds"] = (pd.Timestamp(now) - frame["latest_snapshot"]).dt.total_seconds()
    frame["warnings"] = frame["warnings"].map(lambda w: len(w or []))
    frame["usage_known"] = frame["usage_known"].astype(bool)
    # The interval is measured over the days before each cluster's own latest snapshot, so a
    # cluster that stopped collecting long ago still has one (and shows as stale).
    earliest = frame["latest_snapshot"].min().to_pydatetime() - timedelta(days=days)
    times = _snapshot_times(conn, clusters=clusters, since=earliest)
    cutoff = times["cluster"].map(frame.set_index("cluster")["latest_snapshot"]) - pd.Timedelta(days=days)
    medians = _median_intervals(times[times["taken_at"] >= cutoff].reset_index(drop=True))
    frame["median_interval_seconds"] = frame["cluster"].map(medians).astype("float64")
    return frame[FRESHNESS_COLUMNS]


def snapshots_per_day(
    conn: Connection, *, clusters: Sequence[str] = (), days: int = 14, now: datetime | None = None
) -> pd.DataFrame:
    """Return snapshots per (cluster, UTC day) over the last ``days`` days, zero-filled, oldest first."""
    now = _now(now)
    first_day = (pd.Timestamp(now).normalize() - pd.Timedelta(days=days - 1)).to_pydatetime()
    times = _snapshot_times(conn, clusters=clusters, since=first_day)
    if times.empty:
        return pd.DataFrame(columns=PER_DAY_COLUMNS)
    times["day"] = times["taken_at"].dt.tz_convert(UTC).dt.normalize()
    counts = times.groupby(["cluster", "day"]).size()
    all_days = pd.date_range(pd.Timestamp(first_day), periods=days, freq="D")
    index = pd.MultiIndex.from_product(
        [sorted(times["cluster"].unique()), all_days], names=["cluster", "day"]
    )
    frame = counts.reindex(index, fill_value=0).rename("snapshots").reset_index()
    frame["snapshots"] = frame["snapshots"].astype("int64")
    return frame[PER_DAY_COLUMNS]


def gaps(
    conn: Connection, *, clusters: Sequence[str] = (), days: int = 14, now: datetime | None = None
) -> pd.DataFrame:
    """Return pauses between consecutive snapshots longer than twice the cluster's median interval.

    Longest first. ``missed_snapshots`` estimates how many collections the pause swallowed.
    """
    now = _now(now)
    times = _snapshot_times(conn, clusters=clusters, since=now - timedelta(days=days))
    if times.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    times["gap_start"] = times.groupby("cluster")["taken_at"].shift()
    times["gap_seconds"] = (times["taken_at"] - times["gap_start"]).dt.total_seconds()
    times["median_interval_seconds"] = times["cluster"].map(_median_intervals(times))
    found = times[times["gap_seconds"] > GAP_FACTOR * times["median_interval_seconds"]].copy()
    if found.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    found = found.rename(columns={"taken_at": "gap_end"})
    found["missed_snapshots"] = (found["gap_seconds"] / found["median_interval_seconds"]).round().astype(
        "int64"
    ) - 1
    found = found.sort_values(["gap_seconds", "cluster"], ascending=[False, True], ignore_index=True)
    return found[GAP_COLUMNS]


def categorize(message: str) -> str:
    """Return which kind of collection problem a warning describes."""
    lowered = message.lower()
    if "forbidden" in lowered or "rbac" in lowered or "403" in lowered:
        return RBAC_DEGRADED
    if "usage unknown" in lowered or "metrics" in lowered:
        return METRICS_MISSING
    if "malformed" in lowered or "negative" in lowered or "without a name" in lowered:
        return MALFORMED
    return OTHER


def collection_warnings(
    conn: Connection,
    *,
    clusters: Sequence[str] = (),
    days: int = 14,
    now: datetime | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Return one row per warning of the snapshots of the last ``days`` days, newest first.

    At most ``limit`` rows; ``category`` is one of metrics missing, RBAC degraded, malformed
    object, other. Snapshots without usage but without a warning count as metrics missing.
    """
    now = _now(now)
    query = (
        select(
            m.Cluster.name.label("cluster"),
            m.Snapshot.taken_at,
            m.Snapshot.usage_known,
            m.Snapshot.warnings,
        )
        .join(m.Cluster, m.Cluster.id == m.Snapshot.cluster_id)
        .where(_cluster_filter(clusters), m.Snapshot.taken_at >= now - timedelta(days=days))
        .order_by(m.Snapshot.taken_at.desc(), m.Cluster.name)
    )
    rows: list[dict[str, object]] = []
    for snap in conn.execute(query).all():
        messages = [str(w) for w in snap.warnings or []]
        if not snap.usage_known and not any(categorize(w) == METRICS_MISSING for w in messages):
            messages.append("usage unknown: no usage metrics in this snapshot")
        rows.extend(
            {"cluster": snap.cluster, "taken_at": snap.taken_at, "category": categorize(w), "message": w}
            for w in messages
        )
        if len(rows) >= limit:
            break
    frame = pd.DataFrame(rows[:limit], columns=WARNING_COLUMNS)
    frame["taken_at"] = pd.to_datetime(frame["taken_at"], utc=True)
    return frame


def database_size(conn: Connection) -> int | None:
    """Return the database's size in bytes (SQLite file pages, PostgreSQL pg_database_size).

    None for a database engine it does not know how to ask.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        page_size = conn.execute(text("PRAGMA page_size")).scalar_one()
        return int(pages) * int(page_size)
    if dialect == "postgresql":
        return int(conn.execute(select(func.pg_database_size(func.current_database()))).scalar_one())
    return None
