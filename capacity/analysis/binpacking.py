"""Bin-packing: how many nodes of each pool the same pods would need, as requested and right-sized.

Per (cluster, node pool) at the latest snapshot: the pods bound to the pool's nodes are packed
first-fit decreasing, on CPU, memory, GPUs and the pod count at once, into nodes of the pool's most
common allocatable size. DaemonSet pods are not packed: they run on every node, so each node
offers its allocatable minus the pool's per-node DaemonSet requests (the largest seen on one
node). A pod stays in its pool (its selectors, affinities and tolerations put it there); within
a pool it may go to any node. Anti-affinity, topology spread and disruption budgets are not
modelled: the result is a lower bound a scheduler approaches, as in DESIGN's "Savings".

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
    "memory_allocatable", "memory_allocatable_packed", "memory_requested", "memory_requested_rightsized",
    "memory_used",
    "cpu_allocation", "cpu_allocation_packed", "cpu_utilization", "cpu_utilization_packed",
    "memory_allocation", "memory_allocation_packed", "memory_utilization", "memory_utilization_packed",
]  # fmt: skip
POD_COLUMNS = ["cluster", "namespace", "kind", "workload", "node", "daemonset", "cpu_request",
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
    if len(requests) == 0:
        return Packed(0, 0)
    fits = (requests <= node + _EPS).all(axis=1)
    oversized = int((~fits).sum())
    requests = requests[fits]
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
            takes = np.floor((free[:opened, used] + _EPS) / size[used]).min(axis=1).clip(min=0)
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
            per_node = int(np.floor((node[used] + _EPS) / size[used]).min()) if used.any() else left
            new = -(-left // per_node)
            free[opened : opened + new] -= per_node * size
            free[opened + new - 1] += (per_node * new - left) * size  # the last one holds the rest
            opened += new
    return Packed(opened + oversized, oversized)


def rightsized_requests(pods: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
    """Return ``pods`` with ``cpu_rightsized`` and ``memory_rightsized`` per pod.

    A pod's request changes by its workload's (recommended − current) per replica, summed over
    the containers with a recommendation; containers without one ("not enough data") keep
    their request. Raised requests (under-provisioned, OOM-killed) are raised here too.
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
    per_workload = deltas.groupby(keys, dropna=False)[["cpu_delta", "memory_delta"]].sum().reset_index()
    merged = out[keys].merge(per_workload, on=keys, how="left")
    out["cpu_rightsized"] = (out["cpu_rightsized"] + merged["cpu_delta"].fillna(0.0).to_numpy()).clip(
        lower=0.0
    )
    out["memory_rightsized"] = (
        out["memory_rightsized"] + merged["memory_delta"].fillna(0.0).to_numpy()
    ).clip(lower=0.0)
    return out


def simulate(pods: pd.DataFrame, nodes: pd.DataFrame, recs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per (cluster, pool): nodes now, nodes needed as requested and right-sized.

    ``pods`` has ``POD_COLUMNS`` (pods bound to a node and not finished), ``nodes`` has
    ``NODE_COLUMNS`` with ``pool`` filled, ``recs`` the recommendations report (or None:
    right-sized equals requested). Columns: ``COLUMNS``. Savings are per month at the pool's
    mean node price; negative when the pods need more nodes than run now. ``*_packed`` shares
    are over the right-sized packing's nodes, whose DaemonSets keep their requests.
    """
    pods = rightsized_requests(pods, recs if recs is not None else pd.DataFrame())
    located = pods.merge(nodes[["cluster", "node", "pool"]], on=["cluster", "node"], how="inner")
    rows = []
    for (cluster, pool), pool_nodes in nodes.groupby(["cluster", "pool"], sort=True):
        in_pool = located[(located["cluster"] == cluster) & (located["pool"] == pool)]
        daemons = in_pool[in_pool["daemonset"].astype(bool)]
        packed = in_pool[~in_pool["daemonset"].astype(bool)]
        size = _node_size(pool_nodes)
        per_node = daemons.groupby("node")[["cpu_request", "memory_request"]].sum()
        ds_cpu = float(per_node["cpu_request"].max()) if len(per_node) else 0.0
        ds_memory = float(per_node["memory_request"].max()) if len(per_node) else 0.0
        ds_pods = int(daemons.groupby("node").size().max()) if len(daemons) else 0
        ds_gpu = float(daemons.groupby("node")["gpu_request"].sum().max()) if len(daemons) else 0.0
        room = np.maximum(
            np.array([size[0] - ds_cpu, size[1] - ds_memory, size[2] - ds_gpu, size[3] - ds_pods]), 0
        )
        slot = np.ones(len(packed))
        as_requested = first_fit_decreasing(
            np.column_stack([packed["cpu_request"], packed["memory_request"], packed["gpu_request"], slot]),
            room,
        )
        rightsized = first_fit_decreasing(
            np.column_stack(
                [packed["cpu_rightsized"], packed["memory_rightsized"], packed["gpu_request"], slot]
            ),
            room,
        )
        price = float(pool_nodes["hourly_price"].astype("float64").mean())
        count = len(pool_nodes)
        rows.append(
            {
                "cluster": cluster,
                "pool": pool,
                "nodes": count,
                "nodes_needed": as_requested.nodes,
                "nodes_needed_rightsized": rightsized.nodes,
                "node_hourly_cost": price,
                "monthly_cost": float(pool_nodes["hourly_price"].astype("float64").sum()) * HOURS_PER_MONTH,
                "monthly_savings_packing": (count - as_requested.nodes) * price * HOURS_PER_MONTH,
                "monthly_savings_rightsized": (count - rightsized.nodes) * price * HOURS_PER_MONTH,
                "pods": len(in_pool),
                "oversized_pods": rightsized.oversized,
                "cpu_allocatable": float(pool_nodes["cpu_allocatable"].sum()),
                "cpu_requested": float(in_pool["cpu_request"].sum()),
                "cpu_requested_rightsized": float(packed["cpu_rightsized"].sum()) + ds_cpu * rightsized.nodes,
                "cpu_used": float(in_pool["cpu_usage"].astype("float64").sum(min_count=1)),
                "memory_allocatable": float(pool_nodes["memory_allocatable"].sum()),
                "memory_requested": float(in_pool["memory_request"].sum()),
                "memory_requested_rightsized": float(packed["memory_rightsized"].sum())
                + ds_memory * rightsized.nodes,
                "memory_used": float(in_pool["memory_usage"].astype("float64").sum(min_count=1)),
                "cpu_allocatable_packed": size[0] * rightsized.nodes,
                "memory_allocatable_packed": size[1] * rightsized.nodes,
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["cpu_allocation"] = ratio(table["cpu_requested"], table["cpu_allocatable"])
    table["cpu_allocation_packed"] = ratio(table["cpu_requested_rightsized"], table["cpu_allocatable_packed"])
    table["cpu_utilization"] = ratio(table["cpu_used"], table["cpu_allocatable"])
    table["cpu_utilization_packed"] = ratio(table["cpu_used"], table["cpu_allocatable_packed"])
    table["memory_allocation"] = ratio(table["memory_requested"], table["memory_allocatable"])
    table["memory_allocation_packed"] = ratio(
        table["memory_requested_rightsized"], table["memory_allocatable_packed"]
    )
    table["memory_utilization"] = ratio(table["memory_used"], table["memory_allocatable"])
    table["memory_utilization_packed"] = ratio(table["memory_used"], table["memory_allocatable_packed"])
    table = table.sort_values(
        ["monthly_savings_rightsized", "cluster", "pool"], ascending=[False, True, True]
    )
    return table[COLUMNS].reset_index(drop=True)


def _node_size(nodes: pd.DataFrame) -> tuple[float, float, float, int]:
    """Return the (cpu, memory, gpu, pods) allocatable most nodes of a pool have (ties: the largest)."""
    sizes = nodes.groupby(
        ["cpu_allocatable", "memory_allocatable", "gpu_allocatable", "pods_allocatable"]
    ).size()
    most = sizes[sizes == sizes.max()].index.max()
    return float(most[0]), float(most[1]), float(most[2]), int(most[3])
