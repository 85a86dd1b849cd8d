"""Teams: cost, efficiency, idle share and savings per team; drill down team → namespace → workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from capacity.analysis.costs import IDLE, UNMOUNTED
from dashboard import charts, data, figures, filters, slots
from dashboard.filters import Filters
from dashboard.numbers import money, share

if TYPE_CHECKING:
    from streamlit.elements.lib.column_types import ColumnConfig  # Streamlit's own column type

IDLE_MODES = {"share": "shared to teams", "separate": "shown as its own row"}
EFFICIENCY = ["cpu_efficiency", "memory_efficiency", "total_efficiency"]
TEAM_SHOWN = ["team", "cluster", "total_cost", *EFFICIENCY, "storage_cost", "network_cost", "idle_cost",
              "idle_share", "shared_cost", "monthly_savings"]  # fmt: skip
NAMESPACE_SHOWN = ["cluster", "namespace", "total_cost", *EFFICIENCY, "storage_cost", "network_cost",
                   "cpu_request_core_hours", "cpu_usage_core_hours", "monthly_savings"]  # fmt: skip
WORKLOAD_SHOWN = ["kind", "workload", "total_cost", *EFFICIENCY, "storage_cost", "network_cost",
                  "cpu_request_core_hours", "cpu_usage_core_hours", "memory_request_gib_hours",
                  "memory_usage_gib_hours", "monthly_savings"]  # fmt: skip


def _money_columns(cur: str, frame: pd.DataFrame) -> dict[str, ColumnConfig]:
    config: dict[str, ColumnConfig] = {
        c: st.column_config.NumberColumn(c.replace("_", " ") + f" ({cur})", format="%.2f")
        for c in (
            "cpu_cost",
            "memory_cost",
            "gpu_cost",
            "storage_cost",
            "network_cost",
            "shared_cost",
            "idle_cost",
            "total_cost",
        )
        if c in frame
    }
    config["monthly_savings"] = st.column_config.NumberColumn(f"savings / month ({cur})", format="%.2f")
    for c in ("cpu_efficiency", "memory_efficiency", "total_efficiency", "idle_share"):
        config[c] = st.column_config.NumberColumn(c.replace("_", " "), format="percent")
    for c in ("cpu_request_core_hours", "cpu_usage_core_hours", "memory_request_gib_hours",
              "memory_usage_gib_hours", "gpu_hours"):  # fmt: skip
        config[c] = st.column_config.NumberColumn(c.replace("_", " "), format="%.1f")
    return config


def _table(frame: pd.DataFrame, columns: list[str], cur: str, *, csv: pd.DataFrame, name: str) -> None:
    shown = frame[[c for c in columns if c in frame]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=_money_columns(cur, shown))
    data.download_csv(csv, name, key=f"dl_{name}", label=f"Download CSV ({len(csv)} rows)")


def _with_idle_share(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["idle_share"] = (out["idle_cost"] / out["total_cost"].where(out["total_cost"] > 0)).astype(float)
    return out


def _charts(
    daily: pd.DataFrame, window: pd.DataFrame, *, key: str, label: list[str], cur: str, level: str
) -> None:
    left, right = st.columns(2)
    charts.show(
        figures.cost_over_time(daily, key=key, top=8, currency=cur, title=f"Cost per day by {level} ({cur})"),
        container=left,
    )
    charts.show(figures.request_vs_usage(window, label=label, resource="cpu"), container=right)


def _labelled(frame: pd.DataFrame, key: str, parts: list[str]) -> pd.DataFrame:
    out = frame.copy()
    out[key] = out[parts].astype(str).agg("/".join, axis=1) if len(out) else pd.Series(dtype=str)
    return out


def render() -> None:
    f = filters.current()
    cur = data.currency()
    st.title("Teams")
    if "idle_mode" not in st.session_state:
        linked = filters.param("idle")
        st.session_state["idle_mode"] = linked if linked in IDLE_MODES else "share"
    idle = st.radio(
        "Idle cost",
        list(IDLE_MODES),
        format_func=IDLE_MODES.get,
        horizontal=True,
        key="idle_mode",
        help="Shared: each team carries idle node cost in proportion to its allocated cost per resource.",
    )
    filters.set_param("idle", idle)
    table = st.container()
    bars = st.empty()
    slots.loading(bars)
    teams = f.report("teams", idle=idle)
    if teams.empty:
        bars.empty()
        table.info("No cost in this window for the selected clusters and teams.")
        return
    shown = _with_idle_share(teams)
    with table:
        st.caption(
            "Click a column header to sort. Efficiency = usage / request; idle share = idle cost / cost."
        )
        _table(
            shown,
            TEAM_SHOWN,
            cur,
            csv=teams,
            name=f"teams-{f.window}",
        )
    charts.show(figures.cost_bars(teams, key="team", currency=cur, title="Cost by team"), container=bars)

    options = [str(t) for t in teams["team"] if t not in (IDLE, UNMOUNTED)]
    team = filters.url_selectbox("Team", options, "focus_team", help="Drill down into one team's namespaces.")
    if team is None:
        return
    _team(f, team, shown[shown["team"] == team].iloc[0], cur, idle)


def _team(f: Filters, team: str, row: pd.Series, cur: str, idle: str) -> None:
    namespaces = data.report(f.url, "namespaces", f.start, f.end, f.clusters, (team,), None, idle)
    st.header(f"Team {team}")
    cols = st.columns(4)
    cols[0].metric(
        "Team cost",
        money(float(row["total_cost"]), cur),
        help="Direct cost + shared namespaces and overheads + idle share (when shared), in the window.",
    )
    cols[1].metric(
        "Efficiency",
        share(float(row["total_efficiency"]), 1),
        help="Cost-weighted mean of CPU and memory efficiency (usage / request).",
    )
    cols[2].metric(
        "Idle share",
        share(float(row["idle_share"]), 1),
        help="Part of the team's cost that is idle node capacity shared to it (idle cost / cost).",
    )
    cols[3].metric(
        "Savings / month",
        money(float(row["monthly_savings"]), cur),
        help="Right-sizing savings of the team's workloads (see Savings).",
    )
    if namespaces.empty:
        st.info("This team has no cost in the window.")
        return
    st.caption(
        f"Of it: storage {money(float(row['storage_cost']), cur)} (persistent volumes its pods mount, and "
        f"its namespaces' unmounted claims), load balancers {money(float(row['network_cost']), cur)}."
    )
    st.subheader("Namespaces")
    _table(
        namespaces,
        NAMESPACE_SHOWN,
        cur,
        csv=namespaces,
        name=f"namespaces-{team}-{f.window}",
    )
    daily = data.report(f.url, "namespaces", f.start, f.end, f.clusters, (team,), "day", idle)
    _charts(
        _labelled(daily, "namespace_path", ["cluster", "namespace"]),
        namespaces,
        key="namespace_path",
        label=["cluster", "namespace"],
        cur=cur,
        level="namespace",
    )
    options = [f"{c}/{n}" for c, n in zip(namespaces["cluster"], namespaces["namespace"], strict=True)]
    chosen = filters.url_selectbox("Namespace", options, "focus_namespace", help="cluster/namespace")
    if chosen is None:
        return
    cluster, namespace = chosen.split("/", 1)
    _namespace(f, team, cluster, namespace, cur, idle)


def _namespace(f: Filters, team: str, cluster: str, namespace: str, cur: str, idle: str) -> None:
    st.header(f"Namespace {namespace} ({cluster})")
    workloads = data.report(f.url, "workloads", f.start, f.end, (cluster,), (team,), None, idle)
    workloads = workloads[workloads["namespace"] == namespace].reset_index(drop=True)
    if workloads.empty:
        st.info("No workloads of this team in the namespace in this window.")
        return
    _table(
        workloads,
        WORKLOAD_SHOWN,
        cur,
        csv=workloads,
        name=f"workloads-{cluster}-{namespace}-{f.window}",
    )
    daily = data.report(f.url, "workloads", f.start, f.end, (cluster,), (team,), "day", idle)
    daily = daily[daily["namespace"] == namespace] if len(daily) else daily
    _charts(daily, workloads, key="workload", label=["kind", "workload"], cur=cur, level="workload")
    options = [f"{k}/{w}" for k, w in zip(workloads["kind"], workloads["workload"], strict=True)]
    chosen = filters.url_selectbox("Workload", options, "focus_workload", help="kind/name")
    if chosen is None:
        return
    kind, name = chosen.split("/", 1)
    st.subheader(f"{kind} {name}: right-sizing")
    recs = data.report(f.url, "recommendations", f.start, f.end, (cluster,), (team,))
    if len(recs):
        recs = recs[
            (recs["namespace"] == namespace) & (recs["workload_kind"] == kind) & (recs["workload"] == name)
        ].reset_index(drop=True)
    if recs.empty:
        st.info("No recommendation for this workload: it did not run in the window.")
        return
    st.dataframe(recs, hide_index=True, width="stretch")
    data.download_csv(recs, f"recommendations-{cluster}-{namespace}-{name}", key="dl_workload_recs")


if __name__ == "__main__":
    render()
