"""The node type each pool should run: per pool, the cheapest instance type of the catalog that
packs the same pods within the same constraints, against today's.

For each (cluster, pool) at the latest snapshot, its pods (as requested) are packed with the
constraint-aware packing (``capacity.analysis.placement``) onto nodes of each candidate type in
the pool's own zones, labels and taints, each node offering the candidate's allocatable less the
DaemonSets the pool's nodes carry. Candidates: the catalog's types of the pool's architecture;
where its pods request GPUs, of the same GPU model with at least the most GPUs one pod requests;
else without GPUs. Each is priced at its list price times the pool's own ratio of price to list
price (a spot pool's discount, a negotiated rate), so capacity type and region stay the pool's.
A candidate on which some pod does not fit is out. Candidates go cheapest lower bound first (the
ceiling of the summed requests over a node's room, per resource, times its price), and the
search stops when the next bound costs more than the best packing found: the answer is exact
for the packing, and only a handful of the catalog is packed. A pool whose pods select on the
instance type keeps its own; one whose type is not in the catalog is not searched (``note``) and
keeps its nodes and cost in the ``best_*`` columns, with no type named.
The fleet's answer is the sum of its pools' rows, each at its best type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.analysis.binpacking import (
    HOURS_PER_MONTH,
    NODE_DEFAULTS,
    POD_DEFAULTS,
    Cluster,
    cluster_inputs,
    with_defaults,
)
from capacity.analysis.placement import Classes, Groups, lower_bound, pack_pods
from capacity.analysis.scheduling import INSTANCE_TYPE_LABELS

COLUMNS = [
    "cluster", "pool", "instance_type", "capacity_type", "nodes", "monthly_cost", "cpu_allocation",
    "memory_allocation", "best_instance_type", "best_nodes", "best_monthly_cost", "monthly_savings",
    "best_cpu_allocation", "best_memory_allocation", "candidates", "packed", "note",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Offer:
    """One instance type a region offers: what its node offers pods, and its list price."""

    instance_type: str
    allocatable: tuple[float, float, float, float]  # cores, bytes, GPUs, pod slots
    hourly: float  # on-demand list price
    architecture: str
    gpu_model: str


Offers = Callable[[str | None], Sequence[Offer]]  # region -> its offers


@dataclass(frozen=True, slots=True)
class _Best:
    offer: Offer
    nodes: int
    hourly: float  # per node, at the pool's price ratio


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def _mode(values: pd.Series) -> object:
    found = values.dropna()
    return found.mode().iloc[0] if len(found) else None


def _pool_row(inputs: Cluster, pool: str, offers: Offers) -> dict[str, object]:
    nc, packed = inputs.classes, inputs.packed
    mine = np.array([p == pool for p in nc.pool])
    groups = mine[inputs.home]
    here = inputs.nodes[inputs.nodes["pool"] == pool]
    now, current, region = len(here), _mode(here["instance_type"]), _mode(here["region"])
    cost_now = float(here["hourly_price"].sum()) * HOURS_PER_MONTH
    count = packed["pods"].to_numpy(dtype="int64")[groups]
    sizes = np.column_stack([packed["cpu_request"], packed["memory_request"], packed["gpu_request"],
                             np.ones(len(packed))])[groups]  # fmt: skip
    ds_class = nc.of_node[pd.Index(inputs.nodes["node"]).get_indexer(inputs.daemons["node"])]
    daemons = inputs.daemon_sizes[mine[ds_class]]
    requested = (sizes * count[:, None]).sum(axis=0) + daemons.sum(axis=0)
    allocatable = here[["cpu_allocatable", "memory_allocatable"]].to_numpy(dtype="float64").sum(axis=0)
    row: dict[str, object] = {
        "cluster": str(inputs.nodes["cluster"].iloc[0]), "pool": pool, "instance_type": current,
        "capacity_type": nc.capacity_type[int(np.flatnonzero(mine)[0])], "nodes": now,
        "monthly_cost": cost_now,
        "cpu_allocation": _share(requested[0], allocatable[0]),
        "memory_allocation": _share(requested[1], allocatable[1]),
        # until a search finds better, the pool keeps what it runs (totals stay comparable)
        "best_nodes": now, "best_monthly_cost": cost_now, "monthly_savings": 0.0,
        "candidates": 0, "packed": 0, "note": "",
    }  # fmt: skip
    listed = {o.instance_type: o for o in offers(None if region is None else str(region))}
    own = listed.get(str(current)) if current is not None else None
    if own is None or own.hourly <= 0:
        return row | {"note": f"instance type {current} is not in the catalog"}
    price_ratio = float(here["hourly_price"].mean()) / own.hourly
    gpus = float(sizes[:, 2].max(initial=0.0))
    pinned = any(k in INSTANCE_TYPE_LABELS for c in np.flatnonzero(mine) for k in nc.labels[int(c)])
    candidates = [
        o for o in listed.values()
        if o.architecture == own.architecture
        and (o.gpu_model == own.gpu_model and o.allocatable[2] >= gpus if gpus > 0 else o.allocatable[2] == 0)
        and (not pinned or o.instance_type == own.instance_type)
    ]  # fmt: skip
    best = _search(inputs, mine, groups, sizes, count, candidates, price_ratio)
    row["candidates"], row["packed"] = len(candidates), best[1]
    if best[0] is None:
        return row | {"note": "no instance type of the catalog holds every pod"}
    chosen = best[0]
    after = np.array(chosen.offer.allocatable[:2]) * chosen.nodes
    ds_after = nc.daemonsets[mine].max(axis=0)[:2] * chosen.nodes
    pods_requested = (sizes * count[:, None]).sum(axis=0)[:2]
    best_cost = chosen.nodes * chosen.hourly * HOURS_PER_MONTH
    return row | {
        "best_instance_type": chosen.offer.instance_type, "best_nodes": chosen.nodes,
        "best_monthly_cost": best_cost, "monthly_savings": cost_now - best_cost,
        "best_cpu_allocation": _share(pods_requested[0] + ds_after[0], after[0]),
        "best_memory_allocation": _share(pods_requested[1] + ds_after[1], after[1]),
        "note": "pinned to its instance type by a selector" if pinned else "",
    }  # fmt: skip


def _search(
    inputs: Cluster,
    mine: np.ndarray,
    groups: np.ndarray,
    sizes: np.ndarray,
    count: np.ndarray,
    candidates: Sequence[Offer],
    price_ratio: float,
) -> tuple[_Best | None, int]:
    """Return the cheapest packing over ``candidates`` (None: none holds every pod) and how many
    candidates were packed."""
    if not candidates:
        return None, 0
    nc = inputs.classes
    classes = np.flatnonzero(mine)
    local = np.full(len(mine), -1)
    local[classes] = np.arange(len(classes))
    eligible = inputs.eligible[groups][:, classes]
    home = local[inputs.home[groups]]
    repels = inputs.packed["repels_own"].fillna(False).to_numpy(dtype=bool)[groups]
    spreads = inputs.packed["zone_skew"].notna().to_numpy(dtype=bool)[groups]
    offered = np.array([o.allocatable for o in candidates])  # (K, 4)
    rooms = np.maximum(offered[:, None, :] - nc.daemonsets[classes][None, :, :], 0.0)  # (K, C, 4)
    largest = rooms.max(axis=1)  # (K, 4)
    fits = (sizes[None, :, :] <= largest[:, None, :] * (1 + 1e-9)).all(axis=(1, 2))
    demand = (sizes * count[:, None]).sum(axis=0)
    most = int(count[repels].max(initial=0))
    hourly = np.array([o.hourly for o in candidates]) * price_ratio
    bounds = np.array([lower_bound(demand, largest[k], most) for k in range(len(candidates))])
    order = [int(k) for k in np.lexsort((hourly, bounds * hourly)) if fits[k]]
    best: _Best | None = None
    tried = 0
    for k in order:
        if best is not None and bounds[k] * hourly[k] >= best.nodes * best.hourly:
            break
        tried += 1
        placed = pack_pods(
            Classes(rooms[k], np.full(len(classes), hourly[k]), nc.classes.zone[classes]),
            Groups(sizes, count, eligible, repels, spreads, home),
        )
        if placed.oversized.any():
            continue
        nodes = int(placed.nodes.sum())
        if best is None or nodes * hourly[k] < best.nodes * best.hourly:
            best = _Best(candidates[k], nodes, float(hourly[k]))
    return best, tried


def search(pods: pd.DataFrame, nodes: pd.DataFrame, offers: Offers) -> pd.DataFrame:
    """Return per (cluster, pool) today's nodes and the cheapest instance type that packs the same
    pods (``COLUMNS``); frames as ``binpacking.simulate`` takes them."""
    pods = with_defaults(pods, POD_DEFAULTS)
    nodes = with_defaults(nodes, NODE_DEFAULTS)
    rows: list[dict[str, object]] = []
    for cluster, on in nodes.groupby("cluster", sort=True):
        inputs = cluster_inputs(pods[pods["cluster"] == cluster], on.reset_index(drop=True))
        rows += [_pool_row(inputs, pool, offers) for pool in sorted(set(inputs.classes.pool))]
    return pd.DataFrame(rows, columns=COLUMNS)
