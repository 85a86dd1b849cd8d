"""Constraint-aware first-fit decreasing: pods onto as few, as cheap nodes as it finds, each pod
only on the node classes it may run on, replicas that repel each other one per node, replicas
spread evenly over zones.

A node class is one kind of node a cluster can add: a pool's nodes of one size, zone, labels and
taints, with what one node offers the packed pods (allocatable less its DaemonSets) and its
price. A group is identical pods of one workload: their request (CPU, memory, GPUs, and 1 for
the pod's slot), how many, the classes they may use (``capacity.analysis.scheduling`` decides),
whether they repel each other on the hostname, and whether they spread over zones.

Groups whose replicas repel each other go first (they set the fewest nodes there can be), then
the largest (by their largest share of their own class's node), the most pinned first among
equals; each pod goes to
the first open node of a class it may use with room for all of it; when none has room, a new
node of the class with the lowest price per pod it holds (ties: the group's own class, then the
first). A zone-spread group's pods are split evenly over the zones of its classes first (skew
at most 1, within any maxSkew). Identical pods are placed together: each open node, in order,
takes as many as it has room for, which is what placing them one by one would do. A pod bigger
than any node of its classes is ``oversized``: it gets a node of its largest class to itself.

Pure numpy: arrays in, arrays out. First fit decreasing is a heuristic (within 11/9 of the
optimum plus a node or so in one dimension), so ``lower_bounds`` says how far from the best any
packing could be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Classes:
    room: np.ndarray  # (C, R) what one node offers packed pods
    price: np.ndarray  # (C,) hourly
    zone: np.ndarray  # (C,) int zone number, -1 for none


@dataclass(frozen=True, slots=True)
class Groups:
    size: np.ndarray  # (G, R) per pod; the last resource is the pod's slot (1)
    count: np.ndarray  # (G,) int
    eligible: np.ndarray  # (G, C) bool
    repels: np.ndarray  # (G,) bool: at most one per node
    spreads: np.ndarray  # (G,) bool: evenly over zones
    home: np.ndarray  # (G,) int: the class the group runs on now


@dataclass(frozen=True, slots=True)
class Placement:
    node_class: np.ndarray  # (N,) the class of each opened node
    load: np.ndarray  # (N, R) what the packed pods take of each node
    group: np.ndarray  # (P,) for each placement: the group,
    node: np.ndarray  # (P,) the node,
    pods: np.ndarray  # (P,) and how many of its pods
    oversized: np.ndarray  # (G,) pods bigger than any node of their classes


def _takes(free: np.ndarray, size: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """How many pods of ``size`` each row of ``free`` still holds."""
    used = size > 0
    if not used.any():
        return np.full(len(free), np.iinfo("int64").max // 4, dtype="int64")
    fit = np.floor((free[:, used] + tolerance[used]) / size[used]).min(axis=1)
    return np.asarray(np.clip(fit, 0, None), dtype="int64")


def _parts(mask: np.ndarray, zones: np.ndarray, count: int, spread: bool) -> list[tuple[np.ndarray, int]]:
    """Split a group over the zones of its classes (evenly: skew at most 1) when it spreads."""
    if not spread:
        return [(mask, count)]
    found = np.unique(zones[mask])
    if len(found) <= 1:
        return [(mask, count)]
    base, extra = divmod(count, len(found))
    parts = [(mask & (zones == z), base + (1 if i < extra else 0)) for i, z in enumerate(found.tolist())]
    return [(m, n) for m, n in parts if n > 0]


def pack(classes: Classes, groups: Groups) -> Placement:
    """Return the placement constraint-aware first-fit decreasing finds (see the module)."""
    room, price, zones = classes.room, classes.price, classes.zone
    n_groups = len(groups.count)
    tolerance = np.abs(room).max(axis=0, initial=0.0) * _EPS
    home_room = room[groups.home] if n_groups else np.zeros((0, room.shape[1]))
    shares = np.where(home_room > 0, groups.size / np.where(home_room > 0, home_room, 1.0), 0.0)
    keys = [-groups.size[:, i] for i in reversed(range(groups.size.shape[1]))]
    # repelling replicas first (they set the fewest nodes), then largest first, the most pinned first
    order = np.lexsort((*keys, groups.eligible.sum(axis=1), -shares.max(axis=1, initial=0.0), ~groups.repels))
    capacity = int(groups.count.sum()) + 1  # at most one node per pod
    free = np.zeros((capacity, room.shape[1]))
    node_class = np.full(capacity, -1, dtype="int64")
    opened = 0
    placed_group: list[int] = []
    placed_node: list[np.ndarray] = []
    placed_pods: list[np.ndarray] = []
    oversized = np.zeros(n_groups, dtype="int64")

    def record(g: int, nodes: np.ndarray, pods: np.ndarray) -> None:
        placed_group.extend([g] * len(nodes))
        placed_node.append(nodes)
        placed_pods.append(pods)

    for g in order.tolist():
        size, repels = groups.size[g], bool(groups.repels[g])
        for mask, wanted in _parts(groups.eligible[g], zones, int(groups.count[g]), bool(groups.spreads[g])):
            left = wanted
            if opened:
                idx = np.flatnonzero(mask[node_class[:opened]])
                if len(idx):
                    takes = _takes(free[idx], size, tolerance)
                    if repels:
                        takes = np.minimum(takes, 1)
                    filled = np.cumsum(takes)
                    if filled[-1] >= left:
                        last = int(np.searchsorted(filled, left))
                        takes = takes[: last + 1].copy()
                        takes[last] -= int(filled[last]) - left
                        idx = idx[: last + 1]
                    taken = takes > 0
                    idx, takes = idx[taken], takes[taken]
                    free[idx] -= takes[:, None] * size
                    record(g, idx, takes)
                    left -= int(takes.sum())
            if not left:
                continue
            candidates = np.flatnonzero(mask)
            per_node = _takes(room[candidates], size, tolerance)
            if repels:
                per_node = np.minimum(per_node, 1)
            fits = per_node >= 1
            if fits.any():
                options, holds = candidates[fits], per_node[fits]
                cost = price[options] / holds
                at_home = options == groups.home[g]
                best = int(np.lexsort((options, ~at_home, cost))[0])
                chosen, per = int(options[best]), int(min(holds[best], left))
                new = -(-left // per)
                counts = np.full(new, per, dtype="int64")
                counts[-1] = left - per * (new - 1)
            else:  # bigger than any node it may use: the largest to itself, each, and full
                chosen = int(candidates[np.lexsort(room[candidates].T[::-1])[-1]])
                new, counts = left, np.ones(left, dtype="int64")
                oversized[g] += left
            nodes = np.arange(opened, opened + new)
            node_class[nodes] = chosen
            free[nodes] = np.maximum(room[chosen] - counts[:, None] * size, 0.0) if fits.any() else 0.0
            record(g, nodes, counts)
            opened += new
    node_class, free = node_class[:opened], free[:opened]
    return Placement(
        node_class=node_class,
        load=room[node_class] - free,
        group=np.asarray(placed_group, dtype="int64"),
        node=np.concatenate(placed_node) if placed_node else np.zeros(0, dtype="int64"),
        pods=np.concatenate(placed_pods) if placed_pods else np.zeros(0, dtype="int64"),
        oversized=oversized,
    )


def lower_bound(demand: np.ndarray, room: np.ndarray, repelled: int = 0) -> int:
    """The fewest nodes of ``room`` that could hold ``demand`` (summed requests, per resource):
    ceil of each resource's sum over what a node offers, at least ``repelled`` (the most
    replicas of one group that repel each other)."""
    offered = room > 0
    need = np.ceil(demand[offered] / room[offered] - _EPS).max(initial=0.0)
    return int(max(need, repelled, 0))


@dataclass(frozen=True, slots=True)
class Bundled:
    """Groups whose GPU shares come in bundles, and what each bundle is of the groups given."""

    groups: Groups
    owner: np.ndarray  # (B,) the group each bundle group holds pods of
    pods: np.ndarray  # (B,) pods per bundle


def bundle_gpu_shares(groups: Groups) -> Bundled:
    """Return ``groups`` with pods that hold a share of one GPU (0 < GPUs < 1) bundled: a share
    cannot straddle two GPUs, so floor(1 / share) such pods of a group fill one GPU, and a bundle
    asks for one GPU with their CPU, memory and slots summed. Replicas that repel each other
    cannot share a node: each takes a whole GPU instead. Other groups are as given."""
    sizes: list[np.ndarray] = []
    counts: list[int] = []
    owners: list[int] = []
    per: list[int] = []

    def add(size: np.ndarray, count: int, group: int, pods: int) -> None:
        sizes.append(size)
        counts.append(count)
        owners.append(group)
        per.append(pods)

    for g in range(len(groups.count)):
        size, count, share = groups.size[g], int(groups.count[g]), float(groups.size[g, 2])
        if not 0.0 < share < 1.0:
            add(size, count, g, 1)
        elif groups.repels[g]:
            add(np.r_[size[:2], 1.0, size[3:]], count, g, 1)
        else:
            holds = max(int(np.floor(1.0 / share + _EPS)), 1)
            full, rest = divmod(count, holds)
            for pods, bundles in ((holds, full), (rest, 1 if rest else 0)):
                if bundles:
                    add(np.r_[size[:2] * pods, 1.0, size[3:] * pods], bundles, g, pods)
    owner = np.asarray(owners, dtype="int64")
    bundled = Groups(
        size=np.array(sizes, dtype="float64").reshape(-1, groups.size.shape[1]),
        count=np.asarray(counts, dtype="int64"),
        eligible=groups.eligible[owner],
        repels=groups.repels[owner],
        spreads=groups.spreads[owner],
        home=groups.home[owner],
    )
    return Bundled(bundled, owner, np.asarray(per, dtype="int64"))


@dataclass(frozen=True, slots=True)
class Packed:
    """A packing in the groups' own terms: pods per (group, class), nodes per class, oversized
    pods per group, and the placement of the (bundled) groups it was made of."""

    per_class: np.ndarray  # (G, C)
    nodes: np.ndarray  # (C,)
    oversized: np.ndarray  # (G,)
    placement: Placement
    bundled: Bundled


def pack_pods(classes: Classes, groups: Groups) -> Packed:
    """Pack ``groups`` (GPU shares bundled first: ``bundle_gpu_shares``) and count the result per
    group and class."""
    bundled = bundle_gpu_shares(groups)
    placed = pack(classes, bundled.groups)
    n_groups, n_classes = len(groups.count), len(classes.price)
    per_class = np.zeros((n_groups, n_classes), dtype="int64")
    np.add.at(per_class, (bundled.owner[placed.group], placed.node_class[placed.node]),
              placed.pods * bundled.pods[placed.group])  # fmt: skip
    oversized = np.zeros(n_groups, dtype="int64")
    np.add.at(oversized, bundled.owner, placed.oversized * bundled.pods)
    return Packed(per_class, np.bincount(placed.node_class, minlength=n_classes), oversized, placed, bundled)
