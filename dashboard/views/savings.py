"""Savings: right-sizing per workload container (current vs recommended), the total, and the risks."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, filters
from dashboard.summary import money, risks

MIB = 1024.0**2


def _column_config(cur: str) -> dict[str, object]:
    cores = st.column_config.NumberColumn
    return {
        "replicas": st.column_config.NumberColumn("replicas (avg)", format="%.1f"),
        "cpu_request": cores("CPU request (cores)", format="%.3f"),
        "cpu_recommended": cores("CPU recommended (cores)", format="%.3f"),
        "memory_request_mib": st.column_config.NumberColumn("memory request (MiB)", format="%.0f"),
        "memory_recommended_mib": st.column_config.NumberColumn("memory recommended (MiB)", format="%.0f"),
        "monthly_savings": st.column_config.NumberColumn(f"savings / month ({cur})", format="%.2f"),
    }


SHOWN = [
    "cluster", "namespace", "workload_kind", "workload", "container", "team", "replicas", "cpu_request",
    "cpu_recommended", "memory_request_mib", "memory_recommended_mib", "monthly_savings", "action",
    "oom_kills", "restarts", "reason",
]  # fmt: skip


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["memory_request_mib"] = out["memory_request_bytes"] / MIB
    out["memory_recommended_mib"] = out["memory_recommended_bytes"] / MIB
    return out[SHOWN]


def _multiselect(label: str, options: list[str], key: str) -> list[str]:
    if key not in st.session_state:
        st.session_state[key] = [v for v in st.query_params.get_all(key) if v in options]
    st.session_state[key] = [v for v in st.session_state[key] if v in options]
    chosen = st.multiselect(label, options, key=key, placeholder="All")
    filters.set_param(key, chosen)
    return list(chosen)


def render() -> None:
    f = filters.current()
    cur = data.currency()
    st.title("Savings")
    st.caption(
        "Right-sizing over the selected window: CPU = p95 of per-replica usage, memory = peak working "
        "set + 15 %, floors 10m / 20 MiB, never below an OOM-kill limit; at least 24 h of data."
    )
    recs = f.report("recommendations")
    if recs.empty:
        st.info("No workloads in this window for the selected clusters and teams.")
        return
    cols = st.columns(3)
    pick = st.columns(3)
    with pick[0]:
        actions = _multiselect("Action", sorted(recs["action"].astype(str).unique()), "action")
    with pick[1]:
        clusters = _multiselect("Cluster", sorted(recs["cluster"].astype(str).unique()), "rec_cluster")
    with pick[2]:
        teams = _multiselect("Team", sorted(recs["team"].astype(str).unique()), "rec_team")
    picked = recs
    if actions:
        picked = picked[picked["action"].isin(actions)]
    if clusters:
        picked = picked[picked["cluster"].isin(clusters)]
    if teams:
        picked = picked[picked["team"].isin(teams)]
    picked = picked.sort_values("monthly_savings", ascending=False, kind="stable").reset_index(drop=True)
    at_risk = risks(picked)

    cols[0].metric(
        "Savings / month",
        money(float(picked["monthly_savings"].sum()), cur),
        help="(current − recommended) × average replicas × unit price × 730 h, where lower.",
    )
    cols[1].metric(
        "Containers to reduce",
        int((picked["action"] == "reduce").sum()),
        help="Recommended request at least 5 % below the current one.",
    )
    cols[2].metric(
        "Risks",
        len(at_risk),
        help="Containers whose requests should go up (usage above request) or that were OOM-killed.",
    )

    st.subheader("Right-sizing")
    st.dataframe(_display(picked), hide_index=True, width="stretch", column_config=_column_config(cur))
    st.download_button(
        f"Download CSV ({len(picked)} rows)",
        data.csv_bytes(picked),
        file_name=f"recommendations-{f.window}.csv",
        mime="text/csv",
        key="dl_recommendations",
    )

    st.subheader("Risks")
    if at_risk.empty:
        st.success("No container needs more than it requests, and none was OOM-killed.")
        return
    st.warning(f"{len(at_risk)} containers need larger requests or were OOM-killed.")
    styled = _display(at_risk).style.apply(
        lambda row: ["background-color: #fde2e1" if row["oom_kills"] > 0 else "" for _ in row], axis=1
    )
    st.dataframe(styled, hide_index=True, width="stretch", column_config=_column_config(cur))
    st.download_button(
        f"Download CSV ({len(at_risk)} rows)",
        data.csv_bytes(at_risk),
        file_name=f"risks-{f.window}.csv",
        mime="text/csv",
        key="dl_risks",
    )


if __name__ == "__main__":
    render()
