"""Cost allocation over a window: direct costs per group, shared costs, idle, efficiency.

Inputs are the windowed sums of ``capacity.store.windows`` (one row per cluster, workload and
container; one row per cluster and node). Every figure is explainable from them:

- direct cost = what the group's containers were allocated (max(request, usage) per sample,
  capped at node capacity) times their nodes' unit prices, summed over the window;
- shared cost = the cost of shared namespaces plus configured fixed overheads, distributed
  to the groups of the same cluster by their direct cost (or evenly);
- idle = node cost − allocated cost, per node, per resource, per sample, never negative;
  reported as an ``__idle__`` row per cluster, shared by allocated cost per resource, or hidden;
- storage and network cost = what the group's workloads held of volumes and load balancers
  (rows of their own, with ``storage_cost`` and ``network_cost``); volumes with no claim are
  nobody's and make an ``__unmounted__`` row per cluster.

With idle separate or shared, the groups' total cost plus idle and unmounted rows equals the
node, volume and load-balancer bill of the window plus the fees: every cent is charged once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from capacity.analysis.attribution import attribute_frame, rules_for
from capacity.config import Attribution, Shared
from capacity.records import VOLUME_HOLDER

IdleMode = Literal["separate", "share", "hide"]
IDLE = "__idle__"
SHARED = "__shared__"
UNMOUNTED = "__unmounted__"
ASSET_COSTS = ("storage_cost", "network_cost")  # volumes and load balancers (capacity.costing)
RESOURCES = ("cpu", "memory", "gpu")
GIB = 1024.0**3

SUM_COLUMNS = (
    "cpu_request_cs", "memory_request_bs", "gpu_request_s", "cpu_usage_cs", "memory_usage_bs",
    "cpu_request_known_cs", "memory_request_known_bs", "cpu_allocated_cs", "memory_allocated_bs",
    "cpu_cost", "memory_cost", "gpu_cost", "replica_seconds",
)  # fmt: skip


def cluster_seconds(nodes: pd.DataFrame, scope: Sequence[str] = ("cluster",)) -> pd.Series:
    """Return per cluster (per ``scope``) the seconds the window covers.

    From cluster rows (``capacity.store.windows.cluster_window``): the seconds its snapshots stand
    for; from node rows: the longest-lived node's.
    """
    scope = list(scope)
    if nodes.empty:  # indexed like a grouped result, so that it adds to other per-scope series
        index = (
            pd.MultiIndex.from_arrays([[]] * len(scope), names=scope)
            if len(scope) > 1
            else pd.Index([], name=scope[0])
        )
        return pd.Series(dtype=float, index=index)
    return nodes.groupby(scope)["seconds"].max()


def overhead_costs(shared: Shared, seconds: pd.Series, scope: Sequence[str] = ("cluster",)) -> pd.Series:
    """Return per cluster (per ``scope``) the configured fixed overheads (hourly) over the seconds covered."""
    out = pd.Series(0.0, index=seconds.index, dtype=float)
    at = list(scope).index("cluster")
    for overhead in shared.overheads:
        for entry in seconds.index:
            cluster = entry[at] if isinstance(entry, tuple) else entry
            if overhead.cluster is None or overhead.cluster == cluster:
                out[entry] += overhead.hourly * float(seconds[entry]) / 3600.0
    return out


def with_groups(
    containers: pd.DataFrame, attribution: Attribution, dimension: str, shared: Shared
) -> pd.DataFrame:
    """Return the containers with the dimension's value in column ``group``, whether they run in a
    shared namespace (``shared``) and whether they are a volume nobody claims (``unmounted``)."""
    frame = containers.copy()
    frame["group"] = attribute_frame(frame, rules_for(attribution, dimension)) if len(frame) else []
    frame["shared"] = frame["namespace"].isin(shared.namespaces) if len(frame) else []
    frame["unmounted"] = (frame["kind"] == VOLUME_HOLDER) if len(frame) and "kind" in frame else False
    return frame


def _shares(per_scope: pd.DataFrame, scope: list[str], weights: pd.Series) -> pd.Series:
    """Return each row's share of its scope: by ``weights``, evenly where a scope's weights sum to 0."""
    groups = [per_scope[c] for c in scope]
    totals = weights.groupby(groups, dropna=False).transform("sum")
    counts = weights.groupby(groups, dropna=False).transform("size").astype(float)
    return (weights / totals).where(totals > 0, 1.0 / counts)


def _amounts(per_scope: pd.DataFrame, scope: list[str], amounts: pd.Series) -> pd.Series:
    """Return for each row the amount of its scope (``amounts`` is indexed by scope values)."""
    index = pd.MultiIndex.from_frame(per_scope[scope]) if len(scope) > 1 else pd.Index(per_scope[scope[0]])
    return pd.Series(amounts.reindex(index).to_numpy(), index=per_scope.index).fillna(0.0).astype(float)


def _scope_values(scope: list[str], entry: object) -> dict[str, object]:
    return dict(zip(scope, entry if isinstance(entry, tuple) else (entry,), strict=True))


def allocate(
    containers: pd.DataFrame,
    nodes: pd.DataFrame,
    *,
    keys: Sequence[str],
    shared: Shared,
    idle: IdleMode = "separate",
    distribute_shared: bool = True,
    scope: Sequence[str] = ("cluster",),
) -> pd.DataFrame:
    """Return one row per group (``keys`` columns of ``containers``) plus idle rows.

    ``containers`` carries the group keys, a boolean ``shared`` column (shared namespaces)
    and the sums; ``nodes`` the node sums. Shared and idle costs are distributed within a
    cluster, or within each ``scope`` (which must hold ``cluster``): with a ``period_start``
    column in both frames, ``scope=("period_start", "cluster")`` and ``period_start`` among the
    keys, one call allocates every period exactly as one call per period would. Columns: the
    keys, ``cluster`` scope for idle rows, usage/request in core-hours and GiB-hours,
    efficiencies, costs, ``shared_cost``, ``idle_cost``, ``total_cost``.
    """
    keys = list(keys)
    scope = list(scope)
    frame = containers.copy()
    if frame.empty:
        frame = pd.DataFrame(columns=list(dict.fromkeys([*keys, *scope, "shared", *SUM_COLUMNS])))
    for column in ASSET_COSTS:
        frame[column] = frame[column].fillna(0.0).astype(float) if column in frame else 0.0
    unmounted_mask = (
        frame["unmounted"].astype(bool) if "unmounted" in frame else pd.Series(False, index=frame.index)
    )
    unmounted = frame[unmounted_mask].groupby(scope)["storage_cost"].sum()
    frame = frame[~unmounted_mask].copy()
    sums = [*SUM_COLUMNS, *ASSET_COSTS]
    frame["direct_cost"] = (
        frame["cpu_cost"] + frame["memory_cost"] + frame["gpu_cost"] + frame[list(ASSET_COSTS)].sum(axis=1)
    )
    seconds = cluster_seconds(nodes, scope)

    shared_mask = frame["shared"].astype(bool) if distribute_shared else pd.Series(False, index=frame.index)
    owned = frame[~shared_mask]

    # Per (scope, group): direct sums; shared and idle are distributed within a scope.
    scope_keys = list(dict.fromkeys([*scope, *keys]))
    per_scope = owned.groupby(scope_keys, dropna=False)[[*sums, "direct_cost"]].sum().reset_index()
    per_scope["shared_cost"] = 0.0
    per_scope["idle_cost"] = 0.0
    if distribute_shared:
        pool = frame[shared_mask].groupby(scope)["direct_cost"].sum()
        pool = pool.add(overhead_costs(shared, seconds, scope), fill_value=0.0)
        pool = pool[pool != 0]
        if len(pool):
            weights = per_scope["direct_cost"].astype(float)
            if shared.distribute == "even":
                weights = pd.Series(1.0, index=per_scope.index)
            if len(per_scope):
                per_scope["shared_cost"] = _amounts(per_scope, scope, pool) * _shares(
                    per_scope, scope, weights
                )
            held = set(per_scope[scope].itertuples(index=False, name=None))
            orphans = []
            for entry, amount in pool.items():
                values = _scope_values(scope, entry)
                if tuple(values[c] for c in scope) in held:
                    continue
                # no group ran in this scope to carry its shared cost: keep it visible, unowned
                orphan: dict[str, object] = {str(column): 0.0 for column in per_scope.columns}
                orphan.update(dict.fromkeys(keys, SHARED))
                orphan.update({**values, "shared_cost": float(amount)})
                orphans.append(orphan)
            if orphans:
                per_scope = pd.concat([per_scope, pd.DataFrame(orphans)], ignore_index=True)

    idle_columns = ["cpu_idle_cost", "memory_idle_cost", "gpu_idle_cost"]
    idle_by_scope = (
        nodes.groupby(scope)[idle_columns].sum() if not nodes.empty else pd.DataFrame(columns=idle_columns)
    )
    idle_rows: list[dict[str, object]] = []
    if idle == "share" and len(idle_by_scope):
        held = set(per_scope[scope].itertuples(index=False, name=None)) if len(per_scope) else set()
        for resource in RESOURCES:
            amounts = idle_by_scope[f"{resource}_idle_cost"].astype(float)
            amounts = amounts[amounts != 0]
            if len(per_scope):
                weights = per_scope[f"{resource}_cost"].astype(float)
                per_scope["idle_cost"] += _amounts(per_scope, scope, amounts) * _shares(
                    per_scope, scope, weights
                )
            for entry, amount in amounts.items():
                values = _scope_values(scope, entry)
                if tuple(values[c] for c in scope) not in held:
                    idle_rows.append({**values, "idle_cost": float(amount)})  # nothing ran here to share it
    elif idle == "separate":
        for entry, total in idle_by_scope.sum(axis=1).items():
            idle_rows.append({**_scope_values(scope, entry), "idle_cost": float(total)})

    grouped = per_scope.groupby(keys, dropna=False)[[*sums, "shared_cost", "idle_cost"]].sum().reset_index()
    if "cluster" not in keys:
        # which clusters a group spans; idle rows name their one cluster here
        grouped.insert(len(keys), "cluster", _cluster_scope(per_scope, keys, grouped))
    result = _derive(grouped)
    unowned = [
        (IDLE, "idle_cost", idle_rows),
        (UNMOUNTED, "storage_cost", [
            {**_scope_values(scope, entry), "storage_cost": float(amount)}
            for entry, amount in unmounted.items() if amount != 0
        ]),
    ]  # fmt: skip
    for name, column, rows in unowned:
        if rows:
            result = pd.concat(
                [result, _unowned_rows(result, keys, scope, name, column, rows)], ignore_index=True
            )
    return result


def _unowned_rows(
    result: pd.DataFrame,
    keys: list[str],
    scope: list[str],
    name: str,
    column: str,
    rows: list[dict[str, object]],
) -> pd.DataFrame:
    """Return one row per scope named ``name`` in every key (``__idle__``, ``__unmounted__``) whose
    ``column`` (and total) is the scope's amount, in ``result``'s columns."""
    frame = pd.DataFrame([{**dict.fromkeys(keys, name), **row} for row in rows])
    frame = frame.groupby(list(dict.fromkeys([*keys, *scope])))[column].sum().reset_index()
    for other in result.columns:
        if other not in frame:
            frame[other] = 0.0
    frame["total_cost"] = frame[column]
    for ratio_column in ("cpu_efficiency", "memory_efficiency", "total_efficiency"):
        frame[ratio_column] = np.nan
    return frame[result.columns]


def _cluster_scope(per_cluster: pd.DataFrame, keys: list[str], grouped: pd.DataFrame) -> pd.Series:
    """Return for each row of ``grouped`` the clusters its group spans, sorted and comma-joined.

    A missing key value (NaN or None) is a group of its own: groupby and merge match it.
    """
    pairs = per_cluster[[*keys, "cluster"]].drop_duplicates().sort_values("cluster", kind="stable")
    pairs["cluster"] = pairs["cluster"].astype(str)
    spans = pairs.groupby(keys, dropna=False, sort=False)["cluster"].transform("size")
    multi = pairs[spans > 1].groupby(keys, dropna=False, sort=False)["cluster"].agg(",".join)
    joined = pd.concat([pairs[spans == 1], multi.reset_index()], ignore_index=True)  # one row per group
    joined = joined.rename(columns={"cluster": "_clusters"})
    found = grouped[keys].merge(joined, on=keys, how="left", sort=False)["_clusters"]
    return pd.Series(found.fillna("").to_numpy(dtype=object), index=grouped.index)


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Return numerator / denominator as floats, NaN where the denominator is not positive."""
    num = numerator.astype(float)
    den = denominator.astype(float)
    return (num / den.where(den > 0)).astype(float)


def _derive(grouped: pd.DataFrame) -> pd.DataFrame:
    """Add the report's derived columns (hours, efficiencies, totals) to summed rows."""
    out = grouped.copy()
    out["cpu_request_core_hours"] = out["cpu_request_cs"] / 3600.0
    out["cpu_usage_core_hours"] = out["cpu_usage_cs"] / 3600.0
    out["cpu_efficiency"] = ratio(out["cpu_usage_cs"], out["cpu_request_known_cs"])
    out["memory_request_gib_hours"] = out["memory_request_bs"] / GIB / 3600.0
    out["memory_usage_gib_hours"] = out["memory_usage_bs"] / GIB / 3600.0
    out["memory_efficiency"] = ratio(out["memory_usage_bs"], out["memory_request_known_bs"])
    out["gpu_hours"] = out["gpu_request_s"] / 3600.0
    out["total_cost"] = (
        out["cpu_cost"] + out["memory_cost"] + out["gpu_cost"] + out["storage_cost"] + out["network_cost"]
        + out["shared_cost"] + out["idle_cost"]
    )  # fmt: skip
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
    return ratio(weighted, cpu_w + mem_w)
