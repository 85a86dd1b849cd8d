"""Cost allocation over a window: direct costs per group, shared costs, idle, efficiency.

Inputs are the windowed sums of ``capacity.rollup`` (one row per cluster, workload and
container; one row per cluster and node). Every figure is explainable from them:

- direct cost = what the group's containers were allocated (max(request, usage) per sample,
  capped at node capacity) times their nodes' unit prices, summed over the window;
- shared cost = the cost of shared namespaces plus configured fixed overheads, distributed
  to the groups of the same cluster by their direct cost (or evenly);
- idle = node cost − allocated cost, per node, per resource, per sample, never negative;
  reported as an ``__idle__`` row per cluster, shared by allocated cost per resource, or hidden.

With idle separate or shared, the groups' total cost plus idle rows equals the node cost of
the window: every cent is charged once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from capacity.analysis.attribution import attribute_frame, rules_for
from capacity.config import Attribution, Shared

IdleMode = Literal["separate", "share", "hide"]
IDLE = "__idle__"
SHARED = "__shared__"
RESOURCES = ("cpu", "memory", "gpu")
GIB = 1024.0**3

SUM_COLUMNS = (
    "cpu_request_cs", "memory_request_bs", "gpu_request_s", "cpu_usage_cs", "memory_usage_bs",
    "cpu_request_known_cs", "memory_request_known_bs", "cpu_allocated_cs", "memory_allocated_bs",
    "cpu_cost", "memory_cost", "gpu_cost", "replica_seconds",
)  # fmt: skip


def cluster_seconds(nodes: pd.DataFrame) -> pd.Series:
    """Return per cluster the seconds the window covers (its longest-lived node's)."""
    if nodes.empty:
        return pd.Series(dtype=float)
    return nodes.groupby("cluster")["seconds"].max()


def overhead_costs(shared: Shared, seconds: pd.Series) -> pd.Series:
    """Return per cluster the configured fixed overheads (hourly) over the seconds covered."""
    out = pd.Series(0.0, index=seconds.index, dtype=float)
    for overhead in shared.overheads:
        for cluster in seconds.index:
            if overhead.cluster is None or overhead.cluster == cluster:
                out[cluster] += overhead.hourly * float(seconds[cluster]) / 3600.0
    return out


def with_groups(
    containers: pd.DataFrame, attribution: Attribution, dimension: str, shared: Shared
) -> pd.DataFrame:
    """Return the containers with the dimension's value in column ``group`` (shared: ``__shared__``)."""
    frame = containers.copy()
    frame["group"] = attribute_frame(frame, rules_for(attribution, dimension)) if len(frame) else []
    frame["shared"] = frame["namespace"].isin(shared.namespaces) if len(frame) else []
    return frame


def allocate(
    containers: pd.DataFrame,
    nodes: pd.DataFrame,
    *,
    keys: Sequence[str],
    shared: Shared,
    idle: IdleMode = "separate",
    distribute_shared: bool = True,
) -> pd.DataFrame:
    """Return one row per group (``keys`` columns of ``containers``) plus idle rows.

    ``containers`` carries the group keys, a boolean ``shared`` column (shared namespaces)
    and the sums; ``nodes`` the node sums. Columns: the keys, ``cluster`` scope for idle rows,
    usage/request in core-hours and GiB-hours, efficiencies, costs, ``shared_cost``,
    ``idle_cost``, ``total_cost``.
    """
    keys = list(keys)
    frame = containers.copy()
    if frame.empty:
        frame = pd.DataFrame(columns=list(dict.fromkeys([*keys, "cluster", "shared", *SUM_COLUMNS])))
    frame["direct_cost"] = frame["cpu_cost"] + frame["memory_cost"] + frame["gpu_cost"]
    seconds = cluster_seconds(nodes)

    shared_mask = frame["shared"].astype(bool) if distribute_shared else pd.Series(False, index=frame.index)
    owned = frame[~shared_mask]
    pool = frame[shared_mask].groupby("cluster")["direct_cost"].sum()
    pool = pool.add(overhead_costs(shared, seconds), fill_value=0.0) if distribute_shared else pool

    # Per (cluster, group): direct sums; shared and idle are distributed within a cluster.
    cluster_keys = list(dict.fromkeys(["cluster", *keys]))
    per_cluster = owned.groupby(cluster_keys, dropna=False)[[*SUM_COLUMNS, "direct_cost"]].sum().reset_index()
    per_cluster["shared_cost"] = 0.0
    per_cluster["idle_cost"] = 0.0
    if distribute_shared:
        for cluster, amount in pool.items():
            rows = per_cluster["cluster"] == cluster
            if amount == 0:
                continue
            if not rows.any():
                # no team ran in this cluster to carry its shared cost: keep it visible, unowned
                orphan: dict[str, object] = {str(column): 0.0 for column in per_cluster.columns}
                orphan.update(dict.fromkeys(keys, SHARED))
                orphan.update({"cluster": cluster, "shared_cost": float(amount)})
                per_cluster = pd.concat([per_cluster, pd.DataFrame([orphan])], ignore_index=True)
                continue
            weights = per_cluster.loc[rows, "direct_cost"].astype(float)
            if shared.distribute == "even" or weights.sum() <= 0:
                weights = pd.Series(1.0, index=weights.index)
            per_cluster.loc[rows, "shared_cost"] = amount * weights / weights.sum()

    idle_by_cluster = (
        nodes.groupby("cluster")[["cpu_idle_cost", "memory_idle_cost", "gpu_idle_cost"]].sum()
        if not nodes.empty
        else pd.DataFrame(columns=["cpu_idle_cost", "memory_idle_cost", "gpu_idle_cost"])
    )
    idle_rows = []
    for cluster, row in idle_by_cluster.iterrows():
        if idle == "share":
            rows = per_cluster["cluster"] == cluster
            for resource in RESOURCES:
                amount = float(row[f"{resource}_idle_cost"])
                if amount == 0:
                    continue
                weights = per_cluster.loc[rows, f"{resource}_cost"].astype(float)
                if not rows.any():
                    idle_rows.append((cluster, amount))  # nothing ran here to share it with
                    continue
                if weights.sum() <= 0:
                    weights = pd.Series(1.0, index=weights.index)
                per_cluster.loc[rows, "idle_cost"] += amount * weights / weights.sum()
        elif idle == "separate":
            idle_rows.append((cluster, float(row.sum())))

    grouped = (
        per_cluster.groupby(keys, dropna=False)[[*SUM_COLUMNS, "shared_cost", "idle_cost"]]
        .sum()
        .reset_index()
    )
    if "cluster" not in keys:
        # which clusters a group spans; idle rows name their one cluster here
        grouped.insert(len(keys), "cluster", _cluster_scope(per_cluster, keys, grouped))
    result = _derive(grouped)
    if idle_rows:
        idle_frame = pd.DataFrame(
            [{**dict.fromkeys(keys, IDLE), "cluster": c, "idle_cost": amount} for c, amount in idle_rows]
        )
        group_keys = list(dict.fromkeys([*keys, "cluster"]))
        idle_frame = idle_frame.groupby(group_keys)["idle_cost"].sum().reset_index()
        for column in result.columns:
            if column not in idle_frame:
                idle_frame[column] = 0.0
        idle_frame["total_cost"] = idle_frame["idle_cost"]
        for column in ("cpu_efficiency", "memory_efficiency", "total_efficiency"):
            idle_frame[column] = np.nan
        result = pd.concat([result, idle_frame[result.columns]], ignore_index=True)
    return result


def _cluster_scope(per_cluster: pd.DataFrame, keys: list[str], grouped: pd.DataFrame) -> list[str]:
    scopes = per_cluster.groupby(keys, dropna=False)["cluster"].agg(lambda s: ",".join(sorted(set(s))))
    return [
        str(scopes.get(tuple(row) if len(keys) > 1 else row[0], ""))
        for row in grouped[keys].itertuples(index=False)
    ]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num = numerator.astype(float)
    den = denominator.astype(float)
    return (num / den.where(den > 0)).astype(float)


def _derive(grouped: pd.DataFrame) -> pd.DataFrame:
    """Add the report's derived columns (hours, efficiencies, totals) to summed rows."""
    out = grouped.copy()
    out["cpu_request_core_hours"] = out["cpu_request_cs"] / 3600.0
    out["cpu_usage_core_hours"] = out["cpu_usage_cs"] / 3600.0
    out["cpu_efficiency"] = _ratio(out["cpu_usage_cs"], out["cpu_request_known_cs"])
    out["memory_request_gib_hours"] = out["memory_request_bs"] / GIB / 3600.0
    out["memory_usage_gib_hours"] = out["memory_usage_bs"] / GIB / 3600.0
    out["memory_efficiency"] = _ratio(out["memory_usage_bs"], out["memory_request_known_bs"])
    out["gpu_hours"] = out["gpu_request_s"] / 3600.0
    out["total_cost"] = (
        out["cpu_cost"] + out["memory_cost"] + out["gpu_cost"] + out["shared_cost"] + out["idle_cost"]
    )
    out["total_efficiency"] = total_efficiency(
        out["cpu_efficiency"], out["memory_efficiency"], out["cpu_cost"], out["memory_cost"]
    )
    return out


def total_efficiency(
    cpu_efficiency: pd.Series, memory_efficiency: pd.Series, cpu_cost: pd.Series, memory_cost: pd.Series
) -> pd.Series:
    """Return OpenCost's total efficiency: the cost-weighted mean of CPU and memory efficiency.

    Kubecost's example: 2 CPU / 1 GB requested, 0.5 / 0.5 used, at 10 per CPU and 1 per GB:
    (25 % x 20 + 50 % x 1) / 21 = 26 %.
    """
    cpu_w = cpu_cost.where(cpu_efficiency.notna(), 0.0).astype(float)
    mem_w = memory_cost.where(memory_efficiency.notna(), 0.0).astype(float)
    weighted = cpu_efficiency.fillna(0.0) * cpu_w + memory_efficiency.fillna(0.0) * mem_w
    return _ratio(weighted, cpu_w + mem_w)
