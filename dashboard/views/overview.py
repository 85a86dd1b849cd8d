"""Overview: fleet cost and run rate, efficiency, utilization, idle, savings, and their trends.

Numbers and charts only: the table of teams is the Teams page's, linked at the bottom.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, figures, filters, slots
from dashboard.numbers import cores, money, share
from dashboard.summary import FleetSummary, fleet_summary


def render() -> None:
    f = filters.current()
    cur = data.currency()
    st.title("Overview")
    # Layout first: the charts' places (see dashboard.slots), then the reports that fill them.
    head = st.container()
    cost_slot = st.empty()
    left, right = st.columns(2)
    cpu_slot, memory_slot = left.empty(), right.empty()
    tail = st.container()
    slots.loading(cost_slot, cpu_slot, memory_slot)

    # The daily series first: the window's sums are then the days' sums added, not a second read.
    daily_teams = f.report("teams", step="day")
    teams = f.report("teams")
    clusters = f.report("clusters")  # one row per cluster: the node totals, without a row per node
    recs = f.report("recommendations")
    s = fleet_summary(teams, clusters, recs, f.covered_hours)
    scope = (
        "the selected teams" if f.teams else "the fleet (nodes, volumes, load balancers, fees; idle included)"
    )
    with head:
        _headline(s, scope, cur, clusters, f.covered_hours)
    if teams.empty:
        for slot in (cost_slot, cpu_slot, memory_slot):
            slot.empty()
        tail.info("No cost in this window for the selected clusters and teams.")
        return

    charts.show(
        figures.cost_over_time(daily_teams, key="team", top=8, currency=cur, title="Cost per day by team"),
        container=cost_slot,
    )
    daily_clusters = f.report("clusters", step="day")
    charts.show(figures.capacity_over_time(daily_clusters, resource="cpu", end=f.end), container=cpu_slot)
    charts.show(
        figures.capacity_over_time(daily_clusters, resource="memory", end=f.end), container=memory_slot
    )

    # The table of teams is the Teams page's (sortable, with its drill-down and CSV): a link, so
    # this page loads no table component (a third of a second of the browser's first render).
    tail.page_link(
        "views/teams.py",
        label="Cost by team, sortable, with drill-down and CSV: the Teams page",
        icon=":material/groups:",
    )


def _headline(s: FleetSummary, scope: str, cur: str, clusters: pd.DataFrame, hours: float) -> None:
    row = st.columns(4)
    row[0].metric(
        "Fleet cost",
        money(s.cost, cur),
        help=f"Cost of {scope} over the window, in {cur}.",
    )
    row[1].metric(
        "Monthly run rate",
        money(s.monthly_run_rate, cur),
        help="Window cost / hours of data in the window × 730 hours.",
    )
    row[2].metric(
        "Idle cost",
        money(s.idle_cost, cur),
        help="Node cost not allocated to any container (node cost − allocated cost), never negative.",
    )
    row[3].metric(
        "Achievable savings / month",
        money(s.monthly_savings, cur),
        help="Sum of the right-sizing recommendations' monthly savings (see Savings).",
    )
    row = st.columns(4)
    row[0].metric(
        "CPU efficiency",
        share(s.cpu_efficiency, 1),
        help="CPU usage / CPU request, weighted by requested core-hours (OpenCost).",
    )
    row[1].metric(
        "Memory efficiency",
        share(s.memory_efficiency, 1),
        help="Memory working set / memory request, weighted by requested GiB-hours.",
    )
    row[2].metric(
        "CPU utilization / allocation",
        f"{share(s.cpu_utilization, 1)} / {share(s.cpu_allocation, 1)}",
        help="Utilization = node CPU usage / allocatable; allocation = requests / allocatable; "
        "weighted by allocatable core-hours.",
    )
    row[3].metric(
        "Memory utilization / allocation",
        f"{share(s.memory_utilization, 1)} / {share(s.memory_allocation, 1)}",
        help="Utilization = node memory usage / allocatable; allocation = requests / allocatable; "
        "weighted by allocatable GiB-hours.",
    )
    row = st.columns(4)
    row[0].metric(
        "Compute",
        money(s.compute_cost, cur),
        help="What containers were allocated: max(request, usage) of CPU and memory, and GPUs, at their "
        "nodes' unit prices.",
    )
    row[1].metric(
        "Storage",
        money(s.storage_cost, cur),
        help="Persistent volumes: provisioned GiB-hours at their storage class's price, to the pods "
        "mounting them (unmounted claims to their namespace, volumes without a claim: __unmounted__).",
    )
    row[2].metric(
        "Load balancers",
        money(s.network_cost, cur),
        help="LoadBalancer Services per hour, to the pods they select (none: their namespace).",
    )
    row[3].metric(
        "Shared and fees",
        money(s.shared_cost, cur),
        help="Shared namespaces and configured overheads (cluster fees), spread over the teams.",
    )
    if not clusters.empty:
        st.caption(
            f"{float(clusters['nodes_average'].sum()):,.0f} nodes on average in the window; total efficiency "
            f"{share(s.total_efficiency, 1)} (cost-weighted CPU and memory efficiency); average allocatable "
            f"{cores(float(clusters['cpu_allocatable_core_hours'].sum()) / max(hours, 1e-9))}."
        )


if __name__ == "__main__":
    render()
