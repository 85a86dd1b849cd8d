"""Data health: how fresh each cluster's data is, gaps in collection, collector warnings, DB size."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import capacity_figures as cf
from dashboard import charts, data, filters, numbers

# A cluster is stale when its latest snapshot is older than this many collection intervals.
STALE_INTERVALS = 2.0


def freshness_table(fresh: pd.DataFrame, *, now: datetime) -> pd.DataFrame:
    """Return the freshness frame with age recomputed at ``now``, a status and readable durations.

    Status: stale when the latest snapshot is older than ``STALE_INTERVALS`` collection
    intervals, unknown when no cluster has two snapshots to measure an interval from.
    """
    table = fresh.copy()
    table["age_seconds"] = (
        pd.Timestamp(now) - pd.to_datetime(table["latest_snapshot"], utc=True)
    ).dt.total_seconds()
    # A cluster with a single snapshot has no interval of its own: judge it by the fleet's.
    interval = table["median_interval_seconds"].fillna(table["median_interval_seconds"].median())
    table["status"] = [
        "unknown" if pd.isna(i) else ("fresh" if age <= STALE_INTERVALS * i else "stale")
        for age, i in zip(table["age_seconds"], interval, strict=True)
    ]
    table["age"] = [numbers.duration(s) for s in table["age_seconds"]]
    table["interval"] = [numbers.duration(s) for s in table["median_interval_seconds"]]
    first = ["cluster", "status", "age", "latest_snapshot", "interval", "snapshots", "first_snapshot"]
    return table[first + [c for c in table.columns if c not in first]]


def render() -> None:
    st.title("Data health")
    url = data.database_url()
    clusters = filters.selected_clusters()
    days = filters.window_days()
    fresh = data.freshness(url, clusters, days)
    size = data.database_size(url)
    if fresh.empty:
        st.info(
            "No snapshots yet. Collect one with `capacity collect --cluster NAME` "
            "or fill a demo fleet with `capacity demo`."
        )
        st.caption(f"Database {data.display_url()}: {numbers.size(size)}")
        return
    now = datetime.now(UTC)
    table = freshness_table(fresh, now=now)
    # Like the sidebar's window, history ends at the newest snapshot, so a fleet that stopped
    # collecting still shows its last days (its staleness is in the freshness table).
    end = pd.Timestamp(table["latest_snapshot"].max()).to_pydatetime()
    gaps = data.gaps(url, clusters, days, end)
    warnings = data.collection_warnings(url, clusters, days, end)
    stale = int((table["status"] == "stale").sum())

    st.caption(
        f"{days} days up to the newest snapshot ({end:%Y-%m-%d %H:%M} UTC)"
        + (f" · clusters: {', '.join(clusters)}" if clusters else "")
    )
    cols = st.columns(5)
    cols[0].metric("Clusters", f"{len(table):,}")
    cols[1].metric(
        "Oldest latest snapshot",
        numbers.duration(float(table["age_seconds"].max())),
        help="age of the least recently collected cluster's newest snapshot",
    )
    cols[2].metric(
        "Stale clusters", f"{stale:,}", help=f"no snapshot for {STALE_INTERVALS:g}× their interval"
    )
    cols[3].metric("Gaps", f"{len(gaps):,}", help="pauses longer than twice the median interval")
    cols[4].metric("Database size", numbers.size(size), help=data.display_url())

    if stale:
        st.warning(
            "Stale: "
            + ", ".join(
                f"{r.cluster} (last seen {r.age} ago)" for r in table[table["status"] == "stale"].itertuples()
            )
        )

    st.subheader("Freshness")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "age_seconds": None,
            "median_interval_seconds": None,
            "latest_snapshot": st.column_config.DatetimeColumn(
                "latest snapshot (UTC)", format="YYYY-MM-DD HH:mm"
            ),
            "first_snapshot": st.column_config.DatetimeColumn(
                "first snapshot (UTC)", format="YYYY-MM-DD HH:mm"
            ),
            "usage_known": st.column_config.CheckboxColumn("usage known"),
            "warnings": st.column_config.NumberColumn("warnings (latest)"),
        },
    )
    data.download_csv(table, "freshness", key="dl_freshness")

    st.subheader("Snapshots per day")
    per_day = data.snapshots_per_day(url, clusters, days, end)
    charts.show(cf.snapshots_per_day_figure(per_day))
    data.download_csv(per_day, "snapshots_per_day", key="dl_snapshots_per_day")

    st.subheader("Gaps")
    if gaps.empty:
        st.success("No gaps: every cluster collected on schedule in the window.")
    else:
        charts.show(cf.gaps_figure(gaps))
        shown = gaps.assign(length=[numbers.duration(s) for s in gaps["gap_seconds"]])
        st.dataframe(shown, hide_index=True, width="stretch", column_config={"median_interval_seconds": None})
        data.download_csv(gaps, "gaps", key="dl_gaps")

    st.subheader("Collection warnings")
    if warnings.empty:
        st.success("No collection warnings: metrics, permissions and objects were all fine.")
    else:
        charts.show(cf.warnings_figure(warnings))
        st.dataframe(
            warnings,
            hide_index=True,
            width="stretch",
            column_config={
                "taken_at": st.column_config.DatetimeColumn("snapshot (UTC)", format="YYYY-MM-DD HH:mm"),
                "message": st.column_config.TextColumn("message", width="large"),
            },
        )
        data.download_csv(warnings, "collection_warnings", key="dl_collection_warnings")
