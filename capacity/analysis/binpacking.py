"""Bin-packing: how many nodes of each pool the same pods would need, as requested and right-sized.

Per (cluster, node pool) at the latest snapshot: the pods bound to the pool's nodes are packed
first-fit decreasing, on CPU, memory, GPUs and the pod count at once, into nodes of the pool's most
common allocatable size (a pod bigger than that gets a node of the pool's largest size).
DaemonSet pods are not packed: they run on every node, so each node offers its allocatable minus
the pool's per-node DaemonSet requests (per resource, the most seen on one node). A pod stays in
its pool (its selectors, affinities and tolerations put it there); within a pool it may go to
any node. Anti-affinity, topology spread and disruption budgets are not modelled, and first fit
decreasing is a heuristic (within 11/9 of the optimum plus a node or so): the figure is what a
packing scheduler would reach, not a proof of the minimum. In a pool of one node size, today's
placement is itself a packing, so it is never more than the nodes running now (as requested,
and right-sized when no request goes up). Cost: nodes of the packing size at their mean price.

Pure functions: frames in, frames out. CPU in cores, memory in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.analysis.costs import ratio

HOURS_PER_MONTH = 730.0
_EPS = 1e-9

COLUMNS = [
    "cluster", "pool", "nodes", "nodes_needed", "nodes_needed_rightsized", "node_hourly_cost",
    "monthly_cost", "monthly_savings_packing", "monthly_savings_rightsized", "pods", "oversized_pods",
    "cpu_allocatable", "cpu_allocatable_packed", "cpu_requested", "cpu_requested_rightsized", "cpu_used",
    "cpu_used_packed", "memory_allocatable", "memory_allocatable_packed", "memory_requested",
    "memory_requested_rightsized", "memory_used", "memory_used_packed",
    "cpu_allocation", "cpu_allocation_packed", "cpu_utilization", "cpu_utilization_packed",
    "memory_allocation", "memory_allocation_packed", "memory_utilization", "memory_utilization_packed",
]  # fmt: skip
POD_COLUMNS = ["cluster", "pool", "node", "namespace", "kind", "workload", "daemonset", "pods", "cpu_request",
               "memory_request", "gpu_request", "cpu_usage", "memory_usage"]  # fmt: skip
NODE_COLUMNS = ["cluster", "node", "pool", "cpu_allocatable", "memory_allocatable", "gpu_allocatable",
                "pods_allocatable", "hourly_price"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Packed:
    """The nodes first-fit decreasing opened, and the pods no empty node can hold."""

    nodes: int
    oversized: int


def first_fit_decreasing(requests: np.ndarray, node: np.ndarray) -> Packed:
    """Pack pods into as few nodes of size ``node`` as first-fit decreasing finds.

    ``requests`` is one row per pod and one column per resource (CPU, memory, GPUs, and 1 for
    the pod's slot), ``node`` what one node offers of each. Pods are taken largest first (by
    their largest share of a node), and each goes to the first open node with room for all of
    it; a pod bigger than an empty node is counted in ``oversized`` and needs a node of its own.
    Identical pods (replicas) are placed together: each open node, in order, takes as many as it
    has room for, then new nodes take the rest, which is what placing them one by one would do.
    """
    node = np.asarray(node, dtype="float64")
    requests = np.asarray(requests, dtype="float64").reshape(-1, len(node))
    tolerance = np.abs(node) * _EPS  # relative: a byte is nothing next to a node's memory
    fits = (requests <= node + tolerance).all(axis=1)
    oversized = int((~fits).sum())
    requests = requests[fits]
    if len(requests) == 0:
        return Packed(oversized, oversized)
    shares = np.where(node > 0, requests / np.where(node > 0, node, 1.0), 0.0)
    # largest share first, then by each resource: identical pods end up next to each other
    keys = [-requests[:, i] for i in reversed(range(requests.shape[1]))]
    order = np.lexsort((*keys, -shares.max(axis=1, initial=0.0)))
    requests = requests[order]
    starts = np.flatnonzero(np.r_[True, (requests[1:] != requests[:-1]).any(axis=1)])
    counts = np.diff(np.r_[starts, len(requests)])
    free = np.tile(node, (len(requests), 1))  # at most one node per pod; the first `opened` are open
    opened = 0
    for size, count in zip(requests[starts], counts.tolist(), strict=True):
        used = size > 0
        # how many of this size each open node still takes; first fit fills them in order
        if used.any():
            takes = np.floor((free[:opened, used] + tolerance[used]) / size[used]).min(axis=1).clip(min=0)
        else:
            takes = np.full(opened, float(count))
        filled = np.cumsum(takes)
        if opened and filled[-1] >= count:
            last = int(np.searchsorted(filled, count))  # the node that takes the last one
            takes = takes[: last + 1]
            takes[last] -= filled[last] - count
        free[: len(takes)] -= takes[:, None] * size
        left = count - int(takes.sum())
        if left:  # new nodes, each holding as many as an empty node takes (at least one: they fit)
            per_node = (
                int(np.floor((node[used] + tolerance[used]) / size[used]).min()) if used.any() else left
            )
            new = -(-left // per_node)
            free[opened : opened + new] -= per_node * size
            free[opened + new - 1] += (per_node * new - left) * size  # the last one holds the rest
            opened += new
    return Packed(opened + oversized, oversized)


def rightsized_requests(pods: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
    """Return ``pods`` with ``cpu_rightsized`` and ``memory_rightsized`` per pod.

    When every container of the workload has a recommendation, a pod requests their sum. When
    some lack one ("not enough data"), the pod's request changes by (recommended − request) of
    those that have one, the request being the window's average (an approximation when the
    requests changed within the window). Raised requests (under-provisioned, OOM-killed) are
    raised here too.
    """
    out = pods.copy()
    out["cpu_rightsized"] = out["cpu_request"].astype("float64")
    out["memory_rightsized"] = out["memory_request"].astype("float64")
    if recs.empty or out.empty:
        return out
    keys = ["cluster", "namespace", "kind", "workload"]
    deltas = recs.rename(columns={"workload_kind": "kind"})[keys].copy()
    deltas["cpu_delta"] = (recs["cpu_recommended"] - recs["cpu_request"]).astype("float64").fillna(0.0)
    deltas["memory_delta"] = (
        (recs["memory_recommended_bytes"] - recs["memory_request_bytes"]).astype("float64").fillna(0.0)
    )
    deltas["cpu_new"] = recs["cpu_recommended"].astype("float64")
    deltas["memory_new"] = recs["memory_recommended_bytes"].astype("float64")
    deltas["known"] = deltas["cpu_new"].notna() & deltas["memory_new"].notna()
    grouped = deltas.groupby(keys, dropna=False)
    per_workload = grouped[["cpu_delta", "memory_delta", "cpu_new", "memory_new"]].sum().reset_index()
    per_workload["all_known"] = grouped["known"].all().to_numpy()
    merged = out[keys].merge(per_workload, on=keys, how="left")
    whole = merged["all_known"].fillna(False).astype(bool).to_numpy()
    for resource in ("cpu", "memory"):
        shifted = (
            out[f"{resource}_rightsized"].to_numpy() + merged[f"{resource}_delta"].fillna(0.0).to_numpy()
        )
        new = np.where(whole, merged[f"{resource}_new"].to_numpy(dtype="float64", na_value=np.nan), shifted)
        out[f"{resource}_rightsized"] = np.clip(new, 0.0, None)
    return out


def simulate(pods: pd.DataFrame, nodes: pd.DataFrame, recs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per (cluster, pool): nodes now, nodes needed as requested and right-sized.

    ``pods`` has ``POD_COLUMNS``: groups of ``pods`` identical pods of a workload in a pool
    (requests per pod, usage summed over the group), bound to a node and not finished; a
    DaemonSet group names its node, since DaemonSets count per node. A group whose node is named
    but not among ``nodes`` (gone since) is left out. ``nodes`` has ``NODE_COLUMNS``; ``recs``
    is the recommendations report (None: right-sized equals requested). Columns: ``COLUMNS``.
    Savings are per month: the nodes now less the nodes needed, each at its size's mean price;
    negative when the pods need more than run now. ``*_packed`` columns are of the right-sized
    packing's nodes, on which the DaemonSets keep their requests.
    """
    pods = rightsized_requests(pods, recs if recs is not None else pd.DataFrame())
    pools = nodes[["cluster", "pool"]].drop_duplicates().sort_values(["cluster", "pool"])
    pool_index = pd.MultiIndex.from_frame(pools)
    # pods and nodes sorted by their pool's number; a pool's rows are one slice of each
    pod_pool = pool_index.get_indexer(pd.MultiIndex.from_frame(pods[["cluster", "pool"]].astype(object)))
    known = pd.MultiIndex.from_frame(nodes[["cluster", "node"]]).get_indexer(
        pd.MultiIndex.from_frame(pods[["cluster", "node"]].astype(object))
    )
    keep = (pod_pool >= 0) & (pods["node"].isna().to_numpy() | (known >= 0))
    order = np.argsort(pod_pool[keep], kind="stable")
    pods = pods[keep].iloc[order]
    pod_bounds = np.searchsorted(pod_pool[keep][order], np.arange(len(pools) + 1))
    node_pool = pool_index.get_indexer(pd.MultiIndex.from_frame(nodes[["cluster", "pool"]]))
    node_order = np.argsort(node_pool, kind="stable")
    node_bounds = np.searchsorted(node_pool[node_order], np.arange(len(pools) + 1))

    count = pods["pods"].to_numpy(dtype="int64")
    requested = pods[["cpu_request", "memory_request", "gpu_request"]].to_numpy(dtype="float64")
    rightsized = np.column_stack([pods["cpu_rightsized"], pods["memory_rightsized"], pods["gpu_request"]])
    used = pods[["cpu_usage", "memory_usage"]].to_numpy(dtype="float64")
    daemon = pods["daemonset"].to_numpy(dtype=bool)
    daemon_node = pods["node"].to_numpy(dtype=object)
    offered = nodes[
        ["cpu_allocatable", "memory_allocatable", "gpu_allocatable", "pods_allocatable"]
    ].to_numpy(dtype="float64")[node_order]
    price = nodes["hourly_price"].to_numpy(dtype="float64")[node_order]

    rows = []
    for number, (cluster, pool) in enumerate(pools.itertuples(index=False, name=None)):
        at = slice(pod_bounds[number], pod_bounds[number + 1])
        on = slice(node_bounds[number], node_bounds[number + 1])
        size, largest_size = _node_sizes(offered[on])
        # DaemonSets: the most any one node carries, on every node (pods count as slots)
        ds = np.zeros(4)
        is_ds = daemon[at]
        if is_ds.any():
            _, per_node = np.unique(daemon_node[at][is_ds].astype(str), return_inverse=True)
            weights = (
                np.column_stack([requested[at][is_ds], np.ones(int(is_ds.sum()))]) * count[at][is_ds, None]
            )
            ds = np.array([np.bincount(per_node, weights=weights[:, i]).max() for i in range(4)])
        room = np.maximum(size - ds, 0.0)
        packed = ~is_ds
        replicas = count[at][packed]
        slots = np.ones((int(packed.sum()), 1))
        as_requested = first_fit_decreasing(
            np.repeat(np.hstack([requested[at][packed], slots]), replicas, axis=0), room
        )
        right = first_fit_decreasing(
            np.repeat(np.hstack([rightsized[at][packed], slots]), replicas, axis=0), room
        )
        now = on.stop - on.start
        same = (offered[on] == size).all(axis=1)
        largest = (offered[on] == largest_size).all(axis=1)
        size_price, largest_price = float(price[on][same].mean()), float(price[on][largest].mean())
        needed = as_requested.nodes
        needed_rightsized = right.nodes
        if same.all():
            # today's placement fits `now` nodes of this size: first fit decreasing, a heuristic,
            # may need more; so may the conservative DaemonSet room (each resource's largest)
            needed = min(needed, now)
            if (rightsized[at][packed] <= requested[at][packed]).all():
                needed_rightsized = min(needed_rightsized, needed)
        cost_now = float(price[on].sum()) * HOURS_PER_MONTH
        # nodes of the packing size, and a node of the pool's largest size per oversized pod
        big = [min(as_requested.oversized, needed), min(right.oversized, needed_rightsized)]
        cost = [
            ((n - b) * size_price + b * largest_price) * HOURS_PER_MONTH
            for n, b in zip((needed, needed_rightsized), big, strict=True)
        ]

        totals = (requested[at] * count[at, None]).sum(axis=0)
        totals_rightsized = (rightsized[at][packed] * replicas[:, None]).sum(axis=0)
        row: dict[str, object] = {
            "cluster": cluster,
            "pool": pool,
            "nodes": now,
            "nodes_needed": needed,
            "nodes_needed_rightsized": needed_rightsized,
            "node_hourly_cost": size_price,
            "monthly_cost": cost_now,
            "monthly_savings_packing": cost_now - cost[0],
            "monthly_savings_rightsized": cost_now - cost[1],
            "pods": int(count[at].sum()),
            "oversized_pods": right.oversized,
        }
        for i, resource in enumerate(("cpu", "memory")):
            # no pod: nothing used; pods whose usage is unknown: NaN, not 0
            usage = used[at][:, i]
            unknown = len(usage) > 0 and bool(np.isnan(usage).all())
            # DaemonSet usage goes with the number of nodes; the rest moves with its pods
            moved = np.nansum(usage[packed]) + np.nansum(usage[is_ds]) * (
                needed_rightsized / now if now else 0.0
            )
            row |= {
                f"{resource}_allocatable": float(offered[on, i].sum()),
                f"{resource}_allocatable_packed": float(size[i]) * needed_rightsized,
                f"{resource}_requested": float(totals[i]),
                f"{resource}_requested_rightsized": float(totals_rightsized[i] + ds[i] * needed_rightsized),
                f"{resource}_used": np.nan if unknown else float(np.nansum(usage)),
                f"{resource}_used_packed": np.nan if unknown else float(moved),
            }
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    for resource in ("cpu", "memory"):
        allocatable, packed_allocatable = (
            table[f"{resource}_allocatable"],
            table[f"{resource}_allocatable_packed"],
        )
        table[f"{resource}_allocation"] = ratio(table[f"{resource}_requested"], allocatable)
        table[f"{resource}_allocation_packed"] = ratio(
            table[f"{resource}_requested_rightsized"], packed_allocatable
        )
        table[f"{resource}_utilization"] = ratio(table[f"{resource}_used"], allocatable)
        table[f"{resource}_utilization_packed"] = ratio(table[f"{resource}_used_packed"], packed_allocatable)
    table = table.sort_values(
        ["monthly_savings_rightsized", "cluster", "pool"], ascending=[False, True, True]
    )
    return table[COLUMNS].reset_index(drop=True)


def _node_sizes(offered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (cpu, memory, gpu, pods) allocatable most nodes of a pool have (ties: the
    largest), and the largest one."""
    sizes, counts = np.unique(offered, axis=0, return_counts=True)  # sorted: the last is largest
    usual = sizes[np.flatnonzero(counts == counts.max())[-1]]
    return np.asarray(usual, dtype="float64"), np.asarray(sizes[-1], dtype="float64")
