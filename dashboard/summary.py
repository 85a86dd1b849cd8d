"""Pure helpers that turn report frames into the few numbers a page headlines (``dashboard.numbers``
formats them).

No Streamlit here: tests call these directly. They only add up and weight report columns;
every cost, usage and recommendation comes from ``capacity.reports``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from capacity.analysis.costs import IDLE, UNMOUNTED

HOURS_PER_MONTH = 730.0


def weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    """Return the mean of ``values`` weighted by ``weights``, over rows where both are known."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    w = pd.to_numeric(weights, errors="coerce").astype(float)
    known = v.notna() & w.notna() & (w > 0)
    total = float(w[known].sum())
    return float((v[known] * w[known]).sum() / total) if total > 0 else math.nan


def run_rate(cost: float, hours: float) -> float:
    """Return the monthly run rate: cost / hours x 730."""
    return cost / hours * HOURS_PER_MONTH if hours > 0 else math.nan


@dataclass(frozen=True, slots=True)
class FleetSummary:
    cost: float
    monthly_run_rate: float
    idle_cost: float
    # the cost split: what containers were allocated, volumes, load balancers, shared and fees
    compute_cost: float
    storage_cost: float
    network_cost: float
    shared_cost: float
    cpu_efficiency: float
    memory_efficiency: float
    total_efficiency: float
    cpu_utilization: float
    cpu_allocation: float
    memory_utilization: float
    memory_allocation: float
    monthly_savings: float


def fleet_summary(
    teams: pd.DataFrame, nodes: pd.DataFrame, recommendations: pd.DataFrame, hours: float
) -> FleetSummary:
    """Headline numbers from the teams (idle separate), clusters (or nodes) and recommendations reports.

    Efficiency = usage / request, weighted by request; total efficiency weighted by cost
    (OpenCost). Utilization = usage / allocatable and allocation = requests / allocatable,
    weighted by allocatable core-hours (GiB-hours for memory).
    """
    owned = teams[~teams["team"].isin([IDLE, UNMOUNTED])] if "team" in teams else teams
    cost = float(teams["total_cost"].sum()) if len(teams) else 0.0

    def total(*columns: str) -> float:
        return float(sum(teams[c].sum() for c in columns if c in teams)) if len(teams) else 0.0

    idle = float(teams.loc[teams["team"] == IDLE, "total_cost"].sum()) if len(teams) else 0.0
    if len(owned):
        cpu_eff = weighted_mean(owned["cpu_efficiency"], owned["cpu_request_core_hours"])
        mem_eff = weighted_mean(owned["memory_efficiency"], owned["memory_request_gib_hours"])
        total_eff = weighted_mean(owned["total_efficiency"], owned["cpu_cost"] + owned["memory_cost"])
    else:
        cpu_eff = mem_eff = total_eff = math.nan
    if len(nodes):
        cpu_util = weighted_mean(nodes["cpu_utilization"], nodes["cpu_allocatable_core_hours"])
        cpu_alloc = weighted_mean(nodes["cpu_allocation"], nodes["cpu_allocatable_core_hours"])
        mem_util = weighted_mean(nodes["memory_utilization"], nodes["memory_allocatable_gib_hours"])
        mem_alloc = weighted_mean(nodes["memory_allocation"], nodes["memory_allocatable_gib_hours"])
    else:
        cpu_util = cpu_alloc = mem_util = mem_alloc = math.nan
    savings = float(recommendations["monthly_savings"].sum()) if len(recommendations) else 0.0
    return FleetSummary(
        cost=cost,
        monthly_run_rate=run_rate(cost, hours),
        idle_cost=idle,
        compute_cost=total("cpu_cost", "memory_cost", "gpu_cost"),
        storage_cost=total("storage_cost"),
        network_cost=total("network_cost"),
        shared_cost=total("shared_cost"),
        cpu_efficiency=cpu_eff,
        memory_efficiency=mem_eff,
        total_efficiency=total_eff,
        cpu_utilization=cpu_util,
        cpu_allocation=cpu_alloc,
        memory_utilization=mem_util,
        memory_allocation=mem_alloc,
        monthly_savings=savings,
    )


def risks(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Return the recommendations that are risks: requests to raise, or containers OOM-killed."""
    if recommendations.empty:
        return recommendations
    mask = recommendations["action"].eq("increase") | recommendations["oom_kills"].fillna(0).gt(0)
    return recommendations[mask].reset_index(drop=True)
