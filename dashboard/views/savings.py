"""Savings: right-sizing per workload container (current vs recommended), the total, the risks,
and the nodes each pool would need with its pods packed (as requested and right-sized)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from capacity.analysis.binpacking import fleet_utilization
from dashboard import data, filters
from dashboard.numbers import money
from dashboard.summary import risks

if TYPE_CHECKING:
    from streamlit.elements.lib.column_types import ColumnConfig  # Streamlit's own column type

MIB = 1024.0**2


def _column_config(cur: str) -> dict[str, ColumnConfig]:
    cores = st.column_config.NumberColumn
    return {
        "replicas": st.column_config.NumberColumn("replicas (avg)", format="%.1f"),
        "cpu_request": cores("CPU request (cores)", format="%.3f"),
        "cpu_recommended": cores("CPU recommended (cores)", format="%.3f"),
        "memory_request_mib": st.column_config.NumberColumn("memory request (MiB)", format="%.0f"),
        "memory_recommended_mib": st.column_config.NumberColumn("memory recommended (MiB)", format="%.0f"),
        "monthly_savings": st.column_config.NumberColumn(f"savings / month ({cur})", format="%.2f"),
        "replicas_projected": st.column_config.NumberColumn("replicas projected (HPA)", format="%.0f"),
    }


SHOWN = [
    "cluster", "namespace", "workload_kind", "workload", "container", "team", "replicas", "cpu_request",
    "cpu_recommended", "memory_request_mib", "memory_recommended_mib", "monthly_savings", "action",
    "oom_kills", "restarts", "reason", "hpa", "hpa_target", "replicas_projected",
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


def _days(days: float) -> str:
    """Return the recommendation window for people: '14 days', '1 day', '12 hours'."""
    if days >= 1:
        return f"{days:g} day{'s' if days != 1 else ''}"
    return f"{days * 24:g} hours"


def render() -> None:
    f = filters.current()
    cur = data.currency()
    st.title("Savings")
    policy = data.config().rightsizing
    st.caption(
        f"Right-sizing over the {_days(policy.window_days)} up to the window's end, from that day's "
        f"00:00 UTC (whatever the window's length): CPU = p{policy.cpu_percentile * 100:g} of "
        "per-replica usage, memory = peak "
        f"working set + {policy.memory_margin * 100:g} %, floors 10m / 20 MiB, never below an OOM-kill "
        f"limit; at least {policy.min_hours:g} h of data."
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
    data.download_csv(
        picked,
        f"recommendations-{f.window}",
        key="dl_recommendations",
        label=f"Download CSV ({len(picked)} rows)",
    )

    _risks_section(at_risk, cur, f.window)
    _packing_section(f.report("binpacking"), cur, f.window)
    _node_types_section(f.report("nodetypes"), cur, f.window)
    _volumes_section(f.report("volumes"), cur, f.window, f.covered_hours)


def _risks_section(at_risk: pd.DataFrame, cur: str, window: str) -> None:
    st.subheader("Risks")
    if at_risk.empty:
        st.success("No container needs more than it requests, and none was OOM-killed.")
        return
    st.warning(f"{len(at_risk)} containers need larger requests or were OOM-killed.")
    styled = _display(at_risk).style.apply(
        lambda row: ["background-color: #fde2e1" if row["oom_kills"] > 0 else "" for _ in row], axis=1
    )
    st.dataframe(styled, hide_index=True, width="stretch", column_config=_column_config(cur))
    data.download_csv(at_risk, f"risks-{window}", key="dl_risks", label=f"Download CSV ({len(at_risk)} rows)")


PACKING_SHOWN = [
    "cluster", "pool", "nodes", "nodes_needed", "nodes_needed_rightsized", "nodes_lower_bound_rightsized",
    "removable", "monthly_savings_packing", "monthly_savings_rightsized", "cpu_allocation",
    "cpu_allocation_packed", "memory_allocation", "memory_allocation_packed", "cpu_utilization",
    "cpu_utilization_packed", "oversized_pods",
]  # fmt: skip


def _share(label: str) -> ColumnConfig:
    return st.column_config.NumberColumn(label, format="percent")


def _utilization(packing: pd.DataFrame) -> str:
    """Return CPU utilization "now → packed → right-sized and packed" over the pools whose usage
    is known, or "n/a"."""
    found = fleet_utilization(packing, "cpu")
    if found is None or not found.now > 0 or not found.rightsized_packed > 0:
        return "n/a"
    return f"{found.now:.0%} → {found.packed:.0%} → {found.rightsized_packed:.0%}"


def _packing_section(packing: pd.DataFrame, cur: str, window: str) -> None:
    st.subheader("Nodes now vs needed")
    if packing.empty:
        st.info("No nodes in the latest snapshots of the selected clusters.")
        return
    now, needed = int(packing["nodes"].sum()), int(packing["nodes_needed_rightsized"].sum())
    cols = st.columns(3)
    cols[0].metric(
        "Nodes now → needed",
        f"{now:,} → {needed:,}",
        help="Right-sized requests packed first-fit decreasing onto the node classes each pod may "
        "run on (selectors, affinity, taints, its capacity type; repelling replicas one per node, "
        "spread replicas even over zones), DaemonSets on every node; as requested today they need "
        f"{int(packing['nodes_needed'].sum()):,}; no packing could need fewer than "
        f"{int(packing['nodes_lower_bound_rightsized'].sum()):,}.",
    )
    cols[1].metric(
        "Node savings / month",
        money(float(packing["monthly_savings_rightsized"].clip(lower=0).sum()), cur),
        help="Per pool, the nodes now less the nodes needed, each at its size's price, × 730 h (pools "
        "that need more nodes are not netted off). Not to be added to the right-sizing savings above: "
        "the same requests, priced as whole nodes.",
    )
    cols[2].metric(
        "CPU utilization now → packed → right-sized",
        _utilization(packing),
        help="CPU used by the pods / allocatable CPU, of the nodes now, of the nodes the packing as "
        "requested needs, and of those the right-sized packing needs (pools whose usage is known; "
        "DaemonSet usage goes with the node count).",
    )
    st.dataframe(
        packing[PACKING_SHOWN],
        hide_index=True,
        width="stretch",
        column_config={
            "nodes_needed": st.column_config.NumberColumn("needed (as requested)"),
            "nodes_needed_rightsized": st.column_config.NumberColumn("needed (right-sized)"),
            "nodes_lower_bound_rightsized": st.column_config.NumberColumn(
                "lower bound (right-sized)", help="No packing of the pods given this pool needs fewer"
            ),
            "removable": st.column_config.CheckboxColumn("could be removed"),
            "monthly_savings_packing": st.column_config.NumberColumn(
                f"savings / month, as requested ({cur})", format="%.2f"
            ),
            "monthly_savings_rightsized": st.column_config.NumberColumn(
                f"savings / month, right-sized ({cur})", format="%.2f"
            ),
            "cpu_allocation": _share("CPU requested now"),
            "cpu_allocation_packed": _share("CPU requested packed"),
            "memory_allocation": _share("memory requested now"),
            "memory_allocation_packed": _share("memory requested packed"),
            "cpu_utilization": _share("CPU used now"),
            "cpu_utilization_packed": _share("CPU used packed"),
            "oversized_pods": st.column_config.NumberColumn("pods larger than a node"),
        },
    )
    st.caption(
        "At each cluster's latest snapshot, constraint-aware first fit decreasing: a pod goes only where its "
        "selectors, required affinity, tolerations and capacity type let it, so it may leave its pool; "
        "replicas that repel each other take a node each, zone spreads stay even. Preferred rules and "
        "disruption budgets are not modelled: what a packing scheduler would reach; the lower bound says how "
        "far from the best it could be. Negative savings: the pool takes more nodes than run."
    )
    label = f"Download CSV (capacity report binpacking, {len(packing)} pools)"
    data.download_csv(packing, f"binpacking-{window}", key="dl_binpacking", label=label)


NODE_TYPES_SHOWN = [
    "cluster", "pool", "instance_type", "nodes", "monthly_cost", "best_instance_type", "best_nodes",
    "best_monthly_cost", "monthly_savings", "cpu_allocation", "best_cpu_allocation", "note",
]  # fmt: skip


def _node_types_section(types: pd.DataFrame, cur: str, window: str) -> None:
    st.subheader("Node type per pool")
    if types.empty:
        st.info("No nodes in the latest snapshots of the selected clusters.")
        return
    changed = types[
        types["best_instance_type"].notna() & (types["best_instance_type"] != types["instance_type"])
    ]
    cols = st.columns(2)
    cols[0].metric(
        "Pools on a better type",
        f"{len(changed):,} of {len(types):,}",
        help="Pools whose pods the catalog's cheapest fitting instance type (same architecture, GPU model, "
        "capacity type and region) packs for less than the pool's own type does.",
    )
    cols[1].metric(
        "Savings / month on the best types",
        money(float(types["monthly_savings"].clip(lower=0).sum()), cur),
        help="Per pool, today's nodes less its pods packed onto its best type, each at its price × 730 h. "
        "Not to be added to the node savings above: the same pods, packed again.",
    )
    st.dataframe(
        types[NODE_TYPES_SHOWN],
        hide_index=True,
        width="stretch",
        column_config={
            "monthly_cost": st.column_config.NumberColumn(f"cost / month now ({cur})", format="%.2f"),
            "best_monthly_cost": st.column_config.NumberColumn(f"cost / month on it ({cur})", format="%.2f"),
            "monthly_savings": st.column_config.NumberColumn(f"savings / month ({cur})", format="%.2f"),
            "cpu_allocation": _share("CPU requested now"),
            "best_cpu_allocation": _share("CPU requested on it"),
        },
    )
    label = f"Download CSV (capacity report nodetypes, {len(types)} pools)"
    data.download_csv(types, f"nodetypes-{window}", key="dl_nodetypes", label=label)


VOLUMES_SHOWN = [
    "cluster", "volume", "claim_namespace", "claim_name", "team", "storage_class", "size_gib", "price_source",
    "hours", "mounted_hours", "cost", "unmounted_cost",
]  # fmt: skip


def _volumes_section(volumes: pd.DataFrame, cur: str, window: str, hours: float) -> None:
    st.subheader("Orphaned disks")
    unmounted = volumes[volumes["unmounted_cost"] > 0] if len(volumes) else volumes
    if unmounted.empty:
        st.success("Every persistent volume was mounted by a pod all through the window.")
        return
    unmounted = unmounted.sort_values("unmounted_cost", ascending=False, kind="stable").reset_index(drop=True)
    cols = st.columns(2)
    cols[0].metric(
        "Disks unmounted a while",
        f"{len(unmounted):,} of {len(volumes):,}",
        help="Volumes no running pod mounted for part or all of the window: claims left by a scaled-down "
        "StatefulSet, disks whose claim is gone (Released) or that never had one (Available).",
    )
    cols[1].metric(
        "Unmounted cost / month",
        money(float(unmounted["unmounted_cost"].sum()) / max(hours, 1e-9) * 730, cur),
        help="Their cost while no pod mounted them, at the window's rate × 730 h: what deleting them saves.",
    )
    st.dataframe(
        unmounted[VOLUMES_SHOWN],
        hide_index=True,
        width="stretch",
        column_config={
            "size_gib": st.column_config.NumberColumn("size (GiB)", format="%.0f"),
            "hours": st.column_config.NumberColumn("hours", format="%.1f"),
            "mounted_hours": st.column_config.NumberColumn("mounted hours", format="%.1f"),
            "cost": st.column_config.NumberColumn(f"cost ({cur})", format="%.2f"),
            "unmounted_cost": st.column_config.NumberColumn(f"unmounted cost ({cur})", format="%.2f"),
        },
    )
    label = f"Download CSV (capacity report volumes, {len(volumes)} volumes)"
    data.download_csv(volumes, f"volumes-{window}", key="dl_volumes", label=label)


if __name__ == "__main__":
    render()
