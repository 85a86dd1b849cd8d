"""Capacity: node pools, headroom, node packing and unscheduled demand at the latest snapshots.

Below the headline numbers, one tab per view (pools, packing, unscheduled demand, forecast).
Only the open tab runs and draws, and the open tab is in the URL (``?capacity_tab=Node+packing``),
so a link reopens it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import capacity_figures as cf
from dashboard import charts, data, filters, numbers

if TYPE_CHECKING:
    from streamlit.elements.lib.column_types import ColumnConfig  # Streamlit's own column type

GIB = cf.GIB


def _gib(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return a copy with byte columns as GiB (renamed ``*_gib``), for tables and CSV files."""
    out = frame.copy()
    for column in columns:
        out[column] = out[column].astype("float64") / GIB
    return out.rename(columns={c: f"{c}_gib" for c in columns})


def _pool_table(pools: pd.DataFrame) -> pd.DataFrame:
    table = _gib(
        pools,
        ["memory_allocatable", "memory_requested", "memory_used", "memory_headroom", "largest_memory_free"],
    )
    table["cpu_requested_share"] = table["cpu_requested"] / table["cpu_allocatable"].where(
        table["cpu_allocatable"] > 0
    )
    table["memory_requested_share"] = table["memory_requested_gib"] / table["memory_allocatable_gib"].where(
        table["memory_allocatable_gib"] > 0
    )
    return table


def _share_column(label: str) -> ColumnConfig:
    return st.column_config.ProgressColumn(label, format="percent", min_value=0.0, max_value=1.0)


def _summary(pools: pd.DataFrame, pending: pd.DataFrame) -> None:
    cpu_alloc = float(pools["cpu_allocatable"].sum())
    mem_alloc = float(pools["memory_allocatable"].sum())
    cpu_req = float(pools["cpu_requested"].sum())
    mem_req = float(pools["memory_requested"].sum())
    nodes = int(pools["nodes"].sum())
    cols = st.columns(5)
    cols[0].metric("Nodes", f"{nodes:,}", help=f"in {len(pools)} node pools")
    cols[1].metric(
        "CPU requested",
        numbers.share(cpu_req / cpu_alloc if cpu_alloc else None),
        help=f"{cpu_req:,.1f} of {cpu_alloc:,.1f} allocatable cores",
    )
    cols[2].metric(
        "Memory requested",
        numbers.share(mem_req / mem_alloc if mem_alloc else None),
        help=f"{numbers.size(mem_req)} of {numbers.size(mem_alloc)} allocatable",
    )
    cols[3].metric(
        "Spot nodes",
        numbers.share(int(pools["spot_nodes"].sum()) / nodes if nodes else None),
        help=f"{int(pools['spot_nodes'].sum()):,} of {nodes:,} nodes",
    )
    cols[4].metric(
        "Pending pods",
        f"{int(pending['pods'].sum()) if not pending.empty else 0:,}",
        help="unscheduled pods (no node): demand the clusters could not place",
    )


TABS = ("Node pools", "Node packing", "Unscheduled demand", "Forecast")
TAB_KEY = "capacity_tab"


def _kept(key: str, default: str | None, options: list[str]) -> str | None:
    """Return the default for the widget ``key``, restoring its value from before its tab closed.

    Streamlit forgets the state of a widget it did not draw in a run (a closed tab's); the value
    is kept aside under another key and put back when the tab opens again. None when the widget
    already holds a value (a default as well would make Streamlit warn).
    """
    aside = f"_{key}_kept"
    if key in st.session_state:
        st.session_state[aside] = st.session_state[key]
        return None
    if st.session_state.get(aside) in options:
        st.session_state[key] = st.session_state[aside]
        return None
    return default


def _resource(label: str, key: str, container: Any = st) -> str:
    choice = container.segmented_control(
        label,
        ["cpu", "memory"],
        default=_kept(key, "cpu", ["cpu", "memory"]),
        key=key,
        format_func=lambda r: "CPU" if r == "cpu" else "Memory",
    )
    return str(choice or "cpu")


def _cluster_select(container: Any, clusters: list[str]) -> str:
    key = "capacity_packing_cluster"
    _kept(key, None, clusters)  # the first cluster unless one is kept
    return str(container.selectbox("Cluster", clusters, key=key))


def _pools_section(pools: pd.DataFrame) -> None:
    resource = _resource("Resource", "capacity_pool_resource")
    left, right = st.columns(2)
    charts.show(cf.pool_capacity_figure(pools, resource), container=left)
    charts.show(cf.headroom_figure(pools, resource), container=right)
    table = _pool_table(pools)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "spot_share": _share_column("spot share"),
            "cpu_requested_share": _share_column("CPU requested"),
            "memory_requested_share": _share_column("memory requested"),
            "hourly_cost": st.column_config.NumberColumn("cost / hour", format="%.2f"),
            **{
                c: st.column_config.NumberColumn(c.replace("_", " "), format="%.1f")
                for c in table.columns
                if c.startswith(("cpu_", "memory_", "largest_")) and not c.endswith("_share")
            },
        },
    )
    st.caption(
        "Headroom = allocatable − requested on ready, schedulable nodes. "
        "'largest free' is the most one node can still take: a bigger pod stays pending. "
        "Memory in GiB; cost per hour in the configured currency."
    )
    data.download_csv(table, "node_pools", key="dl_node_pools")


def _packing_section(packing: pd.DataFrame) -> None:
    clusters = sorted(packing["cluster"].unique())
    left, right = st.columns([2, 1])
    cluster = _cluster_select(left, clusters) if len(clusters) > 1 else None
    resource = _resource("Packed by", "capacity_packing_resource", right)
    nodes = packing if cluster is None else packing[packing["cluster"] == cluster]
    charts.show(cf.packing_figure(nodes, resource))
    table = _gib(nodes, ["memory_allocatable", "memory_requested", "memory_used"])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "cpu_requested_share": _share_column("CPU requested"),
            "cpu_used_share": _share_column("CPU used"),
            "memory_requested_share": _share_column("memory requested"),
            "memory_used_share": _share_column("memory used"),
            **{
                c: st.column_config.NumberColumn(c.replace("_", " "), format="%.2f")
                for c in ("cpu_allocatable", "cpu_requested", "cpu_used")
            },
            **{
                c: st.column_config.NumberColumn(c.replace("_", " "), format="%.1f")
                for c in ("memory_allocatable_gib", "memory_requested_gib", "memory_used_gib")
            },
        },
    )
    data.download_csv(table, "node_packing", key="dl_node_packing")


def _pending_section(pending: pd.DataFrame) -> None:
    if pending.empty:
        st.success("No pending pods without a node: every pod found a place.")
        return
    charts.show(cf.pending_figure(pending))
    table = _gib(pending, ["memory_requested"])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "cpu_requested": st.column_config.NumberColumn("CPU requested", format="%.2f"),
            "memory_requested_gib": st.column_config.NumberColumn("memory requested (GiB)", format="%.1f"),
        },
    )
    st.caption("Pending pods bound to no node: they hold nothing and cost nothing, but need room.")
    data.download_csv(table, "pending_demand", key="dl_pending_demand")


def render() -> None:
    st.title("Capacity")
    url = data.database_url()
    clusters = filters.selected_clusters()
    pools = data.node_pools(url, clusters)
    if pools.empty:
        scope = f" for {', '.join(clusters)}" if clusters else ""
        st.info(
            f"No node data{scope} yet. Collect a snapshot with `capacity collect --cluster NAME` "
            "or fill a demo fleet with `capacity demo`."
        )
        return
    st.caption(
        "At each cluster's latest snapshot"
        + (f" · clusters: {', '.join(clusters)}" if clusters else f" · {pools['cluster'].nunique()} clusters")
    )
    pending = data.pending_demand(url, clusters)
    _summary(pools, pending)
    # Lazy tabs: only the open one runs (and reads), the others cost nothing until opened.
    tabs = st.tabs(list(TABS), key=TAB_KEY, bind="query-params")
    sections: tuple[Callable[[], None], ...] = (
        lambda: _pools_section(pools),
        lambda: _packing_section(data.node_packing(url, clusters)),
        lambda: _pending_section(pending),
        _forecast_section,
    )
    for tab, section in zip(tabs, sections, strict=True):
        if tab.open:
            with tab:
                section()


def _forecast_section() -> None:
    f = filters.rendered()
    if f is None:  # the page run on its own, without app.py's window: no history to draw from
        st.info("The forecast needs the dashboard's window: open this page through `capacity dashboard`.")
        return
    table = f.report("forecast")
    if table.empty:
        st.info("No snapshots in this window to draw a trend from.")
        return
    growth = st.column_config.NumberColumn
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "days": st.column_config.NumberColumn("days of data"),
            "last_data": st.column_config.TextColumn("data until (UTC)"),
            "cpu_allocatable": growth("CPU allocatable", format="%.1f"),
            "cpu_requested": growth("CPU requested (trend)", format="%.1f"),
            "cpu_requested_growth_per_week": growth("CPU growth / week", format="%+.2f"),
            "cpu_full_in_days": growth("CPU full in (days)", format="%.0f"),
            "cpu_full_on": st.column_config.TextColumn("CPU full on"),
            "memory_allocatable_gib": growth("memory allocatable (GiB)", format="%.0f"),
            "memory_requested_gib": growth("memory requested (GiB, trend)", format="%.0f"),
            "memory_requested_growth_gib_per_week": growth("memory growth / week (GiB)", format="%+.1f"),
            "memory_full_in_days": growth("memory full in (days)", format="%.0f"),
            "memory_full_on": st.column_config.TextColumn("memory full on"),
        },
    )
    st.caption(
        f"A straight line through each day's average requests over the window ({f.window}), read where the "
        "cluster's data ends; 'full on' is where it meets today's allocatable. Empty: requests are not "
        "growing, or the window holds too little for a trend (3 days, 48 hours). A trend, not a plan: "
        "launches, batch peaks and autoscaled pools are not in it."
    )
    data.download_csv(table, "forecast", key="dl_forecast")
