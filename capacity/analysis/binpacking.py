"""Bin-packing: how many nodes of each pool the same pods would need, as requested and right-sized,
within the constraints that pin them.

Per cluster at the latest snapshot: the pods bound to its nodes are packed with constraint-aware
first-fit decreasing (``capacity.analysis.placement``) on CPU, memory, GPUs and pod slots into
the cluster's node classes (``capacity.analysis.node_classes``): a pod only where its
nodeSelector, required node affinity and tolerations let it run and on its own capacity type,
replicas with required anti-affinity on the hostname one per node, replicas with a
DoNotSchedule zone spread evenly over the zones of their classes. DaemonSet pods are not packed:
each node offers its allocatable less the DaemonSets of its class. A pod may move to another pool
when its constraints allow it, so a pool can empty out (``removable``). Beside every packing,
its lower bound: per pool, the ceiling of the summed requests of the pods it was given over the
pool's largest node room, per resource (and the most repelling replicas), so a packing's
quality is visible. Today's placement is itself a packing: when first fit decreasing costs
more, today's stands. Cost: each node at its class's mean price.

Pure functions: frames in, frames out. CPU in cores, memory in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.analysis.costs import ratio
from capacity.analysis.node_classes import NodeClasses, eligibility, home_classes, node_classes, selected_keys
from capacity.analysis.placement import Groups, lower_bound, pack_pods

HOURS_PER_MONTH = 730.0

COLUMNS = [
    "cluster", "pool", "nodes", "nodes_needed", "nodes_needed_rightsized", "nodes_lower_bound",
    "nodes_lower_bound_rightsized", "removable", "node_hourly_cost",
    "monthly_cost", "monthly_savings_packing", "monthly_savings_rightsized", "pods", "oversized_pods",
    "cpu_allocatable", "cpu_allocatable_packed", "cpu_requested", "cpu_requested_rightsized", "cpu_used",
    "cpu_used_packed", "memory_allocatable", "memory_allocatable_packed", "memory_requested",
    "memory_requested_rightsized", "memory_used", "memory_used_packed",
    "cpu_allocatable_packed_as_requested", "cpu_used_packed_as_requested",
    "memory_allocatable_packed_as_requested", "memory_used_packed_as_requested",
    "cpu_allocation", "cpu_allocation_packed", "cpu_utilization", "cpu_utilization_packed",
    "memory_allocation", "memory_allocation_packed", "memory_utilization", "memory_utilization_packed",
]  # fmt: skip
POD_COLUMNS = ["cluster", "pool", "node", "namespace", "kind", "workload", "daemonset", "pods", "cpu_request",
               "memory_request", "gpu_request", "cpu_usage", "memory_usage", "zone", "capacity_type",
               "node_selector", "required_affinity", "tolerations", "repels_own", "zone_skew"]  # fmt: skip
NODE_COLUMNS = [
    "cluster", "node", "pool", "cpu_allocatable", "memory_allocatable", "gpu_allocatable", "pods_allocatable",
    "hourly_price", "zone", "capacity_type", "labels", "taints", "instance_type", "region",
]  # fmt: skip
# what a frame without the constraint columns means: no constraint
POD_DEFAULTS: dict[str, object] = {
    "zone": None, "capacity_type": "on-demand", "node_selector": {}, "required_affinity": [],
    "tolerations": [], "repels_own": False, "zone_skew": None,
}  # fmt: skip
NODE_DEFAULTS: dict[str, object] = {
    "zone": None, "capacity_type": "on-demand", "labels": {}, "taints": [], "instance_type": None,
    "region": None,
}  # fmt: skip


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


def with_defaults(frame: pd.DataFrame, defaults: dict[str, object]) -> pd.DataFrame:
    """Return ``frame`` with every missing constraint column at its default (no constraint), and
    every selector, list or mapping that is not one (a frame concatenated from frames without
    the column holds NaN there) at its default too."""
    out = frame.copy()
    for name, value in defaults.items():
        if name not in out.columns:
            out[name] = pd.Series([value] * len(out), index=out.index, dtype=object)
        elif isinstance(value, (dict, list)):
            kind = type(value)
            out[name] = pd.Series([v if isinstance(v, kind) else value for v in out[name]], index=out.index,
                                  dtype=object)  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class _Packing:
    """One packing of a cluster: pods per (group, class) and nodes per class."""

    per_class: np.ndarray  # (G, C)
    nodes: np.ndarray  # (C,)
    oversized: np.ndarray  # (G,)


def _packings(
    nc: NodeClasses, pods: pd.DataFrame, home: np.ndarray, eligible: np.ndarray
) -> tuple[_Packing, _Packing, np.ndarray, np.ndarray]:
    """Pack a cluster's groups as requested and right-sized; return both and the per-pod sizes.

    Today's placement is itself a packing: when first fit decreasing (a heuristic, with the
    conservative DaemonSet room) costs more, today's stands (right-sized too, when no request rose).
    """
    count = pods["pods"].to_numpy(dtype="int64")
    slots = np.ones(len(pods))
    requested = np.column_stack([pods["cpu_request"], pods["memory_request"], pods["gpu_request"], slots])
    rightsized = np.column_stack(
        [pods["cpu_rightsized"], pods["memory_rightsized"], pods["gpu_request"], slots]
    )
    repels = pods["repels_own"].fillna(False).to_numpy(dtype=bool)
    spreads = pods["zone_skew"].notna().to_numpy(dtype=bool)
    n_groups, n_classes = len(pods), len(nc.pool)
    today = np.zeros((n_groups, n_classes), dtype="int64")
    today[np.arange(n_groups), home] = count
    kept = _Packing(today, nc.nodes, np.zeros(n_groups, dtype="int64"))
    price = nc.classes.price
    found = []
    for sizes in (requested, rightsized):
        groups = Groups(sizes.astype("float64"), count, eligible, repels, spreads, home)
        packed = pack_pods(nc.classes, groups)
        packing = _Packing(packed.per_class, packed.nodes, packed.oversized)
        no_rise = bool((sizes <= requested + 1e-12).all())
        if no_rise and float(packing.nodes @ price) > float(nc.nodes @ price):
            packing = kept
        found.append(packing)
    return found[0], found[1], requested, rightsized


def simulate(pods: pd.DataFrame, nodes: pd.DataFrame, recs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per (cluster, pool): nodes now, nodes needed as requested and right-sized.

    ``pods`` has ``POD_COLUMNS``: groups of ``pods`` identical pods of a workload, bound to a node
    and not finished, with what pins them; a DaemonSet group names its node, since DaemonSets
    count per node. A group whose node is named but not among ``nodes`` (gone since) is left out.
    ``nodes`` has ``NODE_COLUMNS``; missing constraint columns mean no constraint. ``recs`` is
    the recommendations report (None: right-sized equals requested). Columns: ``COLUMNS``.
    Savings are per month: the pool's nodes now less the nodes the packing gives it, each at its
    price; negative when a pool takes more. ``*_packed`` columns are of the right-sized packing.
    """
    pods = rightsized_requests(
        with_defaults(pods, POD_DEFAULTS), recs if recs is not None else pd.DataFrame()
    )
    nodes = with_defaults(nodes, NODE_DEFAULTS)
    rows: list[dict[str, object]] = []
    for cluster, on in nodes.groupby("cluster", sort=True):
        rows += _cluster_rows(str(cluster), pods[pods["cluster"] == cluster], on.reset_index(drop=True))
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


@dataclass(frozen=True, slots=True)
class Cluster:
    """One cluster's packing inputs: its node classes, the pod groups to pack with the class each
    runs on now and the classes each may use, and its DaemonSet groups (a row per node)."""

    nodes: pd.DataFrame
    classes: NodeClasses
    packed: pd.DataFrame
    home: np.ndarray
    eligible: np.ndarray
    daemons: pd.DataFrame
    daemon_sizes: np.ndarray  # (D, 4) each DaemonSet group's requests in all, with its pod slots


def cluster_inputs(pods: pd.DataFrame, nodes: pd.DataFrame) -> Cluster:
    """Return one cluster's packing inputs from its ``pods`` and ``nodes`` (frames as ``simulate``
    takes them, constraint columns present)."""
    names = set(nodes["node"])
    is_ds = pods["daemonset"].to_numpy(dtype=bool)
    daemons = pods[is_ds & pods["node"].isin(names).to_numpy()]
    packed = pods[~is_ds & pods["pool"].isin(set(nodes["pool"])).to_numpy()].reset_index(drop=True)
    ds_sizes = (
        np.column_stack(
            [daemons["cpu_request"], daemons["memory_request"], daemons["gpu_request"], np.ones(len(daemons))]
        )
        * daemons["pods"].to_numpy(dtype="float64")[:, None]
    )
    ds_load: dict[str, np.ndarray] = {}
    for name, load in zip(daemons["node"], ds_sizes, strict=True):
        ds_load[str(name)] = ds_load.get(str(name), np.zeros(4)) + load
    nc = node_classes(
        nodes, ds_load, selected_keys(packed["node_selector"].tolist(), packed["required_affinity"].tolist())
    )
    home = home_classes(packed, nc)
    return Cluster(nodes, nc, packed, home, eligibility(packed, nc, home), daemons, ds_sizes)


def _cluster_rows(cluster: str, pods: pd.DataFrame, nodes: pd.DataFrame) -> list[dict[str, object]]:
    inputs = cluster_inputs(pods, nodes)
    nc, packed, home, daemons, ds_sizes = (
        inputs.classes, inputs.packed, inputs.home, inputs.daemons, inputs.daemon_sizes
    )  # fmt: skip
    as_requested, right, requested, rightsized = _packings(nc, packed, home, eligible=inputs.eligible)
    count = packed["pods"].to_numpy(dtype="int64")
    repels = packed["repels_own"].fillna(False).to_numpy(dtype=bool)
    used = packed[["cpu_usage", "memory_usage"]].to_numpy(dtype="float64")
    ds_node_class = nc.of_node[pd.Index(nodes["node"]).get_indexer(daemons["node"])]
    ds_used = daemons[["cpu_usage", "memory_usage"]].to_numpy(dtype="float64")
    price = nc.classes.price * HOURS_PER_MONTH
    node_price = nodes["hourly_price"].to_numpy(dtype="float64") * HOURS_PER_MONTH
    offered = nodes[["cpu_allocatable", "memory_allocatable"]].to_numpy(dtype="float64")
    pools = np.array(nc.pool, dtype=object)
    node_pool = pools[nc.of_node]
    rows = []
    for pool in sorted(set(nc.pool)):
        mine = pools == pool
        at_home = mine[home]
        ds_here = mine[ds_node_class]
        now = int(nc.nodes[mine].sum())
        cost_now = float(node_price[node_pool == pool].sum())
        needed, needed_right = int(as_requested.nodes[mine].sum()), int(right.nodes[mine].sum())
        usual = int(np.flatnonzero(mine)[np.argmax(nc.nodes[mine])])
        row: dict[str, object] = {
            "cluster": cluster,
            "pool": pool,
            "nodes": now,
            "nodes_needed": needed,
            "nodes_needed_rightsized": needed_right,
            "nodes_lower_bound": _bound(as_requested, mine, requested, repels, nc),
            "nodes_lower_bound_rightsized": _bound(right, mine, rightsized, repels, nc),
            "removable": bool(now > 0 and needed_right == 0),
            "node_hourly_cost": float(nc.classes.price[usual]),
            "monthly_cost": cost_now,
            "monthly_savings_packing": cost_now - float(as_requested.nodes[mine] @ price[mine]),
            "monthly_savings_rightsized": cost_now - float(right.nodes[mine] @ price[mine]),
            "pods": int(count[at_home].sum() + daemons["pods"].to_numpy()[ds_here].sum()),
            "oversized_pods": int(right.oversized[at_home].sum()),
        }
        for i, resource in enumerate(("cpu", "memory")):
            usage, ds_usage = used[at_home, i], ds_used[ds_here, i]
            unknown = len(usage) + len(ds_usage) > 0 and bool(np.isnan(np.r_[usage, ds_usage]).all())

            row |= {
                f"{resource}_allocatable": float(offered[node_pool == pool, i].sum()),
                f"{resource}_allocatable_packed": float(right.nodes[mine] @ nc.allocatable[mine, i]),
                f"{resource}_allocatable_packed_as_requested": float(
                    as_requested.nodes[mine] @ nc.allocatable[mine, i]
                ),
                f"{resource}_requested": float(
                    (requested[at_home, i] * count[at_home]).sum() + ds_sizes[ds_here, i].sum()
                ),
                f"{resource}_requested_rightsized": float(
                    (rightsized[:, i] * right.per_class[:, mine].sum(axis=1)).sum()
                    + right.nodes[mine] @ nc.daemonsets[mine, i]
                ),
                f"{resource}_used": np.nan if unknown else float(np.nansum(usage) + np.nansum(ds_usage)),
                f"{resource}_used_packed": np.nan
                if unknown
                else _used_after(right, mine, now, used[:, i], ds_usage),
                f"{resource}_used_packed_as_requested": (
                    np.nan if unknown else _used_after(as_requested, mine, now, used[:, i], ds_usage)
                ),
            }
        rows.append(row)
    return rows


def _used_after(
    packing: _Packing, mine: np.ndarray, now: int, used: np.ndarray, ds_usage: np.ndarray
) -> float:
    """What a pool's nodes use after a packing: the packed pods' usage moves with them (each
    group's share of its pods given to the pool), the DaemonSets' goes with the nodes left."""
    share = packing.per_class[:, mine].sum(axis=1) / np.maximum(packing.per_class.sum(axis=1), 1)
    left = int(packing.nodes[mine].sum()) / now if now else 0.0
    return float(np.nansum(used * share) + np.nansum(ds_usage) * left)


@dataclass(frozen=True, slots=True)
class FleetUtilization:
    """Used over allocatable of a resource, over the pools whose usage is known: on today's nodes,
    packed as requested, and right-sized and packed (the Spotify migration's "two- to threefold")."""

    now: float
    packed: float
    rightsized_packed: float


def fleet_utilization(table: pd.DataFrame, resource: str) -> FleetUtilization | None:
    """Return the fleet's ``resource`` utilization now and after each packing; None when no
    pool's usage is known."""
    known = table[table[f"{resource}_used"].notna()]
    if known.empty:
        return None

    def of(used: str, allocatable: str) -> float:
        total = float(known[allocatable].sum())
        return float(known[used].sum()) / total if total > 0 else float("nan")

    return FleetUtilization(
        of(f"{resource}_used", f"{resource}_allocatable"),
        of(f"{resource}_used_packed_as_requested", f"{resource}_allocatable_packed_as_requested"),
        of(f"{resource}_used_packed", f"{resource}_allocatable_packed"),
    )


def _bound(
    packing: _Packing, mine: np.ndarray, sizes: np.ndarray, repels: np.ndarray, nc: NodeClasses
) -> int:
    """The fewest nodes the pods a packing gave a pool could need, on the pool's largest room."""
    pods = packing.per_class[:, mine].sum(axis=1)
    repelled = int(pods[repels].max(initial=0))
    return lower_bound((sizes * pods[:, None]).sum(axis=0), nc.classes.room[mine].max(axis=0), repelled)
