"""Constraint-aware packing: the scheduler's predicates, hand-built cases with known optimal
answers for each constraint, and properties every placement keeps (each pod fits its node and
may run there, none is lost, repelling replicas never share a node, spread replicas stay within
one of each other over zones, never fewer nodes than the lower bound)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.analysis.binpacking import NODE_COLUMNS, POD_COLUMNS, simulate
from capacity.analysis.placement import Classes, Groups, lower_bound, pack
from capacity.analysis.scheduling import (
    expression_matches,
    node_selects,
    pins_to_node,
    repels_own_replicas,
    selector_matches,
    tolerates,
    zone_skew,
)

GIB = 1024.0**3
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


# --- the predicates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ["a", "b"], {"k": "b"}, True),
        ("In", ["a"], {}, False),
        ("NotIn", ["a"], {}, True),
        ("NotIn", ["a"], {"k": "a"}, False),
        ("Exists", [], {"k": ""}, True),
        ("DoesNotExist", [], {"k": "x"}, False),
        ("Gt", ["8"], {"k": "16"}, True),
        ("Lt", ["8"], {"k": "16"}, False),
        ("Gt", ["8"], {"k": "many"}, False),
        ("Near", ["a"], {"k": "a"}, False),
    ],
)
def test_match_expressions(operator: str, values: list[str], labels: dict[str, str], expected: bool) -> None:
    assert expression_matches({"key": "k", "operator": operator, "values": values}, labels) is expected


def test_node_selector_and_required_affinity() -> None:
    labels = {"pool": "general", "zone": "a", "arch": "arm64"}
    assert node_selects({"pool": "general"}, [], labels)
    assert not node_selects({"pool": "gpu"}, [], labels)
    arm = {"matchExpressions": [{"key": "arch", "operator": "In", "values": ["arm64"]}]}
    amd = {"matchExpressions": [{"key": "arch", "operator": "In", "values": ["amd64"]}]}
    assert node_selects({}, [amd, arm], labels)  # terms are ORed
    assert not node_selects({}, [amd], labels)
    both = {
        "matchExpressions": [*arm["matchExpressions"], {"key": "zone", "operator": "In", "values": ["b"]}]
    }
    assert not node_selects({}, [both], labels)  # a term's expressions are ANDed
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    assert pins_to_node({}, [by_name]) and pins_to_node({"kubernetes.io/hostname": "n1"}, [])
    assert not pins_to_node({"pool": "general"}, [arm])


def test_tolerations() -> None:
    assert not tolerates([], [GPU_TAINT])
    assert tolerates([{"key": "nvidia.com/gpu", "operator": "Exists"}], [GPU_TAINT])
    assert tolerates([{"operator": "Exists"}], [GPU_TAINT])  # an empty key with Exists tolerates all
    assert tolerates([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}], [GPU_TAINT])
    assert not tolerates([{"key": "nvidia.com/gpu", "value": "absent"}], [GPU_TAINT])
    assert not tolerates(
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], [GPU_TAINT]
    )
    assert tolerates([], [{"key": "soft", "effect": "PreferNoSchedule"}])  # soft: never forbids


def test_anti_affinity_and_zone_spread_against_own_replicas() -> None:
    own = {"app": "web"}
    term = {"labelSelector": {"matchLabels": own}, "topologyKey": "kubernetes.io/hostname"}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    assert repels_own_replicas(anti, own)
    assert not repels_own_replicas(anti, {"app": "other"})  # repels others, not its own kind
    zonal = {**term, "topologyKey": "topology.kubernetes.io/zone"}
    assert not repels_own_replicas(
        {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [zonal]}}, own
    )
    preferred = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}}
    assert not repels_own_replicas(preferred, own)
    spread = {
        "maxSkew": 2,
        "topologyKey": "topology.kubernetes.io/zone",
        "labelSelector": {"matchLabels": own},
    }
    assert zone_skew([spread, {**spread, "maxSkew": 1}], own) == 1
    assert zone_skew([{**spread, "whenUnsatisfiable": "ScheduleAnyway"}], own) is None
    assert zone_skew([{**spread, "topologyKey": "kubernetes.io/hostname"}], own) is None
    assert selector_matches({}, own) and not selector_matches(None, own)


# --- hand-built cases ------------------------------------------------------------------------------


def node_frame(*nodes: tuple[str, str, float, float, dict[str, Any]]) -> pd.DataFrame:
    """(name, pool, cores, hourly price, extra columns) per node: 16 GiB, 110 pods."""
    rows = []
    for name, pool, cores, price, extra in nodes:
        rows.append({
            "cluster": "prod", "node": name, "pool": pool, "cpu_allocatable": cores,
            "memory_allocatable": 16 * GIB, "gpu_allocatable": 0.0, "pods_allocatable": 110,
            "hourly_price": price, "zone": "a", "capacity_type": "on-demand", "labels": {"pool": pool},
            "taints": [], **extra,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def pod_frame(*groups: tuple[str, str, int, float, dict[str, Any]]) -> pd.DataFrame:
    """(workload, pool it runs in, replicas, cores each, extra columns) per group."""
    rows = []
    for workload, pool, replicas, cores, extra in groups:
        rows.append({
            "cluster": "prod", "pool": pool, "node": None, "namespace": "shop", "kind": "Deployment",
            "workload": workload, "daemonset": False, "pods": replicas, "cpu_request": cores,
            "memory_request": GIB, "gpu_request": 0.0, "cpu_usage": None, "memory_usage": None, "zone": "a",
            "capacity_type": "on-demand", "node_selector": {}, "required_affinity": [], "tolerations": [],
            "repels_own": False, "zone_skew": None, **extra,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=POD_COLUMNS)


def by_pool(table: pd.DataFrame, column: str) -> dict[str, Any]:
    return {str(k): v for k, v in table.set_index("pool")[column].to_dict().items()}


def test_a_node_selector_keeps_pods_in_their_pool_and_the_rest_fill_it() -> None:
    nodes = node_frame(
        *[(f"a{i}", "a", 4.0, 0.2, {}) for i in range(3)], *[(f"b{i}", "b", 4.0, 0.2, {}) for i in range(3)]
    )
    pods = pod_frame(("pinned", "a", 3, 3.0, {"node_selector": {"pool": "a"}}), ("free", "b", 6, 1.0, {}))
    table = simulate(pods, nodes)
    # three 3-core pinned pods need three nodes of a, whose spare core each takes three free pods;
    # the other three free pods need one node: pool b keeps one
    assert by_pool(table, "nodes_needed") == {"a": 3, "b": 1}
    assert by_pool(table, "removable") == {"a": False, "b": False}


def test_a_pool_empties_out_when_its_pods_may_go_elsewhere() -> None:
    nodes = node_frame(("a0", "a", 8.0, 0.4, {}), ("a1", "a", 8.0, 0.4, {}), ("b0", "b", 2.0, 0.2, {}))
    pods = pod_frame(("big", "a", 2, 6.0, {"node_selector": {"pool": "a"}}), ("small", "b", 2, 1.0, {}))
    table = simulate(pods, nodes)
    assert by_pool(table, "nodes_needed") == {"a": 2, "b": 0}
    assert by_pool(table, "removable") == {"a": False, "b": True}
    assert by_pool(table, "monthly_savings_packing")["b"] == pytest.approx(0.2 * 730)


def test_taints_keep_untolerating_pods_off_and_tolerating_ones_on() -> None:
    gpu = {"taints": [GPU_TAINT], "labels": {"pool": "gpu"}, "gpu_allocatable": 1.0}
    nodes = node_frame(
        ("g0", "gpu", 8.0, 2.0, gpu), ("n0", "general", 4.0, 0.2, {}), ("n1", "general", 4.0, 0.2, {})
    )
    tolerant = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    pods = pod_frame(
        ("train", "gpu", 1, 2.0, {**tolerant, "gpu_request": 1.0}), ("web", "general", 8, 1.0, {})
    )
    # the GPU node's 6 spare cores stay empty: web tolerates no GPU taint
    assert by_pool(simulate(pods, nodes), "nodes_needed") == {"gpu": 1, "general": 2}
    pods.loc[1, "tolerations"] = tolerant["tolerations"]  # now it may use them
    assert by_pool(simulate(pods, nodes), "nodes_needed") == {"gpu": 1, "general": 1}


def test_repelling_replicas_need_a_node_each() -> None:
    nodes = node_frame(*[(f"n{i}", "general", 8.0, 0.2, {}) for i in range(6)])
    pods = pod_frame(("web", "general", 5, 0.1, {"repels_own": True}), ("batch", "general", 8, 1.0, {}))
    [row] = simulate(pods, nodes).to_dict("records")
    assert row["nodes_needed"] == 5  # 0.5 cores in all, but five replicas that repel each other
    assert row["nodes_lower_bound"] == 5
    pods.loc[0, "repels_own"] = False
    assert simulate(pods, nodes).iloc[0]["nodes_needed"] == 2  # 8.5 cores on 8-core nodes


def test_zone_spread_places_replicas_evenly_over_the_zones() -> None:
    nodes = node_frame(*[(f"{z}{i}", "general", 4.0, 0.2, {"zone": z}) for z in "abc" for i in range(2)])
    pods = pod_frame(("web", "general", 6, 2.0, {"zone_skew": 1}))
    [row] = simulate(pods, nodes).to_dict("records")
    assert row["nodes_needed"] == 3  # two 2-core replicas a zone: one node in each of a, b and c
    pods.loc[0, "zone_skew"] = None
    assert simulate(pods, nodes).iloc[0]["nodes_needed"] == 3  # 12 cores: three nodes anyway
    pods.loc[0, "pods"] = 2
    assert simulate(pods, nodes).iloc[0]["nodes_needed"] == 1
    pods.loc[0, "zone_skew"] = 1
    assert simulate(pods, nodes).iloc[0]["nodes_needed"] == 2  # one a zone, in two of them


def test_pods_keep_their_capacity_type() -> None:
    spot = {"capacity_type": "spot", "labels": {"pool": "spot"}}
    nodes = node_frame(
        ("d0", "demand", 4.0, 0.4, {}), ("d1", "demand", 4.0, 0.4, {}), ("s0", "spot", 4.0, 0.1, spot)
    )
    pods = pod_frame(("web", "demand", 4, 1.5, {}))
    # the cheap spot node has room for two, but on-demand pods stay on on-demand nodes
    assert by_pool(simulate(pods, nodes), "nodes_needed") == {"demand": 2, "spot": 0}


def test_a_new_node_is_the_cheapest_per_pod() -> None:
    nodes = node_frame(("s0", "small", 2.0, 0.1, {}), ("l0", "large", 8.0, 0.3, {}))
    pods = pod_frame(("web", "small", 8, 1.0, {}))
    # small: 2 pods for 0.1 (0.05 each); large: 8 pods for 0.3 (0.0375 each)
    assert by_pool(simulate(pods, nodes), "nodes_needed") == {"large": 1, "small": 0}


# --- properties ------------------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[Classes, Groups]:
    n_classes = draw(st.integers(1, 4))
    room = np.array(
        [[draw(st.sampled_from([2.0, 4.0, 8.0])), draw(st.sampled_from([4.0, 16.0])), 0.0, 20.0]
         for _ in range(n_classes)]
    )  # fmt: skip
    price = np.array([draw(st.floats(0.05, 2.0)) for _ in range(n_classes)])
    zone = np.array([draw(st.integers(-1, 2)) for _ in range(n_classes)], dtype="int64")
    n_groups = draw(st.integers(1, 8))
    size = np.array(
        [[draw(st.sampled_from([0.1, 0.5, 1.0, 1.5, 3.0, 9.0])), draw(st.sampled_from([0.5, 1.0, 6.0])),
          0.0, 1.0] for _ in range(n_groups)]
    )  # fmt: skip
    home = np.array([draw(st.integers(0, n_classes - 1)) for _ in range(n_groups)], dtype="int64")
    eligible = np.array([[draw(st.booleans()) for _ in range(n_classes)] for _ in range(n_groups)])
    eligible[np.arange(n_groups), home] = True
    groups = Groups(
        size=size,
        count=np.array([draw(st.integers(1, 12)) for _ in range(n_groups)], dtype="int64"),
        eligible=eligible,
        repels=np.array([draw(st.booleans()) for _ in range(n_groups)]),
        spreads=np.array([draw(st.booleans()) for _ in range(n_groups)]),
        home=home,
    )
    return Classes(room, price, zone), groups


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_every_placement_keeps_the_constraints(case: tuple[Classes, Groups]) -> None:
    classes, groups = case
    placed = pack(classes, groups)
    n_groups = len(groups.count)
    # no pod lost
    assert (
        np.bincount(placed.group, weights=placed.pods, minlength=n_groups).tolist() == groups.count.tolist()
    )
    node_class = placed.node_class[placed.node]
    # each on a class it may use
    assert groups.eligible[placed.group, node_class].all()
    # each node holds what it was given: within its room, unless it holds one oversized pod
    load = np.zeros((len(placed.node_class), 4))
    np.add.at(load, placed.node, groups.size[placed.group] * placed.pods[:, None])
    over = (load > classes.room[placed.node_class] + 1e-9).any(axis=1)
    held = np.bincount(placed.node, weights=placed.pods, minlength=len(placed.node_class))
    assert (held[over] == 1).all() and over.sum() <= placed.oversized.sum()
    # repelling replicas never share a node
    repels = groups.repels[placed.group]
    assert (placed.pods[repels] == 1).all()
    pairs = set()
    for g, n in zip(placed.group[repels].tolist(), placed.node[repels].tolist(), strict=True):
        assert (g, n) not in pairs
        pairs.add((g, n))
    # spread replicas: within one of each other over the zones of their classes
    for g in np.flatnonzero(groups.spreads).tolist():
        zones = np.unique(classes.zone[groups.eligible[g]])
        if len(zones) > 1:
            mine = placed.group == g
            per_zone = [int(placed.pods[mine][classes.zone[node_class[mine]] == z].sum()) for z in zones]
            assert max(per_zone) - min(per_zone) <= 1
    # never below the lower bound of one class's room
    if len(classes.price) == 1 and not placed.oversized.any():
        demand = (groups.size * groups.count[:, None]).sum(axis=0)
        most = int(groups.count[groups.repels].max(initial=0))
        assert len(placed.node_class) >= lower_bound(demand, classes.room[0], most)


def test_lower_bound() -> None:
    room = np.array([4.0, 16.0, 0.0, 110.0])
    assert lower_bound(np.array([10.0, 8.0, 0.0, 5.0]), room) == 3  # ceil(10 / 4)
    assert lower_bound(np.array([1.0, 40.0, 0.0, 5.0]), room) == 3  # memory: ceil(40 / 16)
    assert lower_bound(np.array([1.0, 1.0, 0.0, 5.0]), room, repelled=4) == 4
    assert lower_bound(np.zeros(4), room) == 0
