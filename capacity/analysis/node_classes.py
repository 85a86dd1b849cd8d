"""A cluster's node classes, and which of them each pod group may run on.

A class is the nodes of one pool, zone, capacity type, allocatable, price, lasting taints and
the labels some pod selects on: a new node of the class is one more of them. What a node of a
class offers packed pods is its allocatable less the DaemonSets it runs (per resource, the most
any node of the class carries, so a new node is not promised more than the fullest one has).
Taints the autoscalers and the node lifecycle put on a node for a while (being deleted,
not ready, unreachable) are not the class's: a new node would not carry them.

A group may use a class when its capacity type is the group's own (spot or on-demand is a
choice of risk, not a constraint the pod states, so a packing never moves a pod between them),
the node labels satisfy its nodeSelector and required node affinity, and its tolerations admit
the class's taints. A pod pinned to its node by name stays in its class; any group may always
use the class it runs on now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.analysis.placement import Classes
from capacity.analysis.scheduling import HOSTNAME, node_selects, pins_to_node, tolerates

_TRANSIENT = (
    "ToBeDeletedByClusterAutoscaler", "DeletionCandidateOfClusterAutoscaler", "karpenter.sh/disrupted",
    "karpenter.sh/disruption",
)  # fmt: skip
_LIFECYCLE = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


@dataclass(frozen=True, slots=True)
class NodeClasses:
    """One cluster's node classes; arrays are per class unless named per node."""

    classes: Classes
    pool: list[str]
    zone: list[Any]
    capacity_type: list[str]
    labels: list[dict[str, str]]
    taints: list[list[Any]]
    allocatable: np.ndarray  # (C, 4)
    daemonsets: np.ndarray  # (C, 4) what the DaemonSets take of each node
    nodes: np.ndarray  # (C,) nodes of the class today
    of_node: np.ndarray  # (N,) the class of each of the cluster's nodes, in frame order


def _lasting(taints: list[Any]) -> list[Any]:
    return sorted(
        (
            t
            for t in taints
            if isinstance(t, Mapping)
            and str(t.get("key", "")) not in _TRANSIENT
            and not str(t.get("key", "")).startswith(_LIFECYCLE)
        ),
        key=lambda t: json.dumps(t, sort_keys=True),
    )


def selected_keys(selectors: Sequence[Any], affinities: Sequence[Any]) -> set[str]:
    """Return the node label keys some pod selects on (the hostname aside: it names one node)."""
    keys = {str(k) for selector in selectors for k in selector}
    for terms in affinities:
        for term in terms:
            if isinstance(term, Mapping):
                keys.update(
                    str(e.get("key")) for e in term.get("matchExpressions") or [] if isinstance(e, Mapping)
                )
    keys.discard(HOSTNAME)
    return keys


def node_classes(
    nodes: pd.DataFrame, daemonset_load: Mapping[str, np.ndarray], keys: set[str]
) -> NodeClasses:
    """Group one cluster's ``nodes`` (``binpacking.NODE_COLUMNS`` with ``zone``, ``capacity_type``,
    ``labels``, ``taints``) into classes; ``daemonset_load`` is per node name (cpu, memory, gpu, pods)."""
    allocatable = nodes[["cpu_allocatable", "memory_allocatable", "gpu_allocatable", "pods_allocatable"]]
    offered = allocatable.to_numpy(dtype="float64")
    found: dict[tuple[Any, ...], int] = {}
    of_node = np.zeros(len(nodes), dtype="int64")
    pools: list[str] = []
    ctypes: list[str] = []
    zones: list[Any] = []
    labels: list[dict[str, str]] = []
    taints: list[list[Any]] = []
    prices: list[list[float]] = []
    loads: list[np.ndarray] = []
    rows = zip(nodes["node"], nodes["pool"], nodes["zone"], nodes["capacity_type"], nodes["labels"],
               nodes["taints"], nodes["hourly_price"], strict=True)  # fmt: skip
    for i, (name, pool, zone, ctype, node_labels, node_taints, price) in enumerate(rows):
        chosen = {k: str(v) for k, v in node_labels.items() if k in keys}
        lasting = _lasting(node_taints)
        key = (pool, zone, ctype, tuple(offered[i]), json.dumps(lasting), json.dumps(chosen, sort_keys=True))
        number = found.setdefault(key, len(found))
        if number == len(pools):
            pools.append(str(pool))
            ctypes.append(str(ctype))
            zones.append(zone)
            labels.append(chosen)
            taints.append(lasting)
            prices.append([])
            loads.append(np.zeros(4))
        of_node[i] = number
        prices[number].append(float(price))
        load = daemonset_load.get(str(name))
        if load is not None:
            loads[number] = np.maximum(loads[number], load)
    count = len(pools)
    first = np.unique(of_node, return_index=True)[1] if count else np.zeros(0, dtype="int64")
    alloc = offered[first] if count else np.zeros((0, 4))
    daemonsets = np.array(loads) if count else np.zeros((0, 4))
    zone_numbers = {z: n for n, z in enumerate(sorted({str(z) for z in zones if z is not None}))}
    classes = Classes(
        room=np.maximum(alloc - daemonsets, 0.0),
        price=np.array([float(np.mean(p)) for p in prices]),
        zone=np.array([zone_numbers[str(z)] if z is not None else -1 for z in zones], dtype="int64"),
    )
    return NodeClasses(classes, pools, zones, ctypes, labels, taints, alloc, daemonsets,
                       np.bincount(of_node, minlength=count), of_node)  # fmt: skip


def home_classes(pods: pd.DataFrame, nc: NodeClasses) -> np.ndarray:
    """Return per pod group the class it runs on now: of its pool, zone and capacity type, the one
    with the most nodes (groups hold pods of several nodes of one pool and zone)."""
    best: dict[tuple[str, Any, str], int] = {}
    by_pool: dict[str, int] = {}
    for c in np.argsort(-nc.nodes, kind="stable").tolist():
        best.setdefault((nc.pool[c], nc.zone[c], nc.capacity_type[c]), c)
        by_pool.setdefault(nc.pool[c], c)
    rows = zip(pods["pool"], pods["zone"], pods["capacity_type"], strict=True)
    return np.array(
        [best.get((str(p), z, str(t)), by_pool.get(str(p), 0)) for p, z, t in rows], dtype="int64"
    )


def eligibility(pods: pd.DataFrame, nc: NodeClasses, home: np.ndarray) -> np.ndarray:
    """Return (groups, classes): where each pod group may run (see the module)."""
    n = len(nc.pool)
    out = np.zeros((len(pods), n), dtype=bool)
    memo: dict[tuple[str, str, str, str], np.ndarray] = {}
    rows = zip(pods["capacity_type"], pods["node_selector"], pods["required_affinity"], pods["tolerations"],
               strict=True)  # fmt: skip
    for g, (ctype, selector, terms, tolerations) in enumerate(rows):
        key = (str(ctype), json.dumps(selector, sort_keys=True), json.dumps(terms, sort_keys=True),
               json.dumps(tolerations, sort_keys=True))  # fmt: skip
        allowed = memo.get(key)
        if allowed is None:
            if pins_to_node(selector, terms):
                allowed = np.zeros(n, dtype=bool)
            else:
                allowed = np.array([
                    nc.capacity_type[c] == str(ctype)
                    and node_selects(selector, terms, nc.labels[c])
                    and tolerates(tolerations, nc.taints[c])
                    for c in range(n)
                ], dtype=bool)  # fmt: skip
            memo[key] = allowed
        out[g] = allowed
    if len(pods):
        out[np.arange(len(pods)), home] = True
    return out
