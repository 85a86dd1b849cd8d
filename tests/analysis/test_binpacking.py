"""Bin-packing: first-fit decreasing against a one-pod-at-a-time reference, the per-pool simulation
on hand-built frames, its inputs read from SQLite and PostgreSQL, and the report and CLI."""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from capacity.analysis.binpacking import (
    COLUMNS,
    HOURS_PER_MONTH,
    NODE_COLUMNS,
    POD_COLUMNS,
    fleet_utilization,
    rightsized_requests,
    simulate,
)
from capacity.analysis.placement import Classes, Groups, pack
from capacity.cli import main
from capacity.config import Config
from capacity.errors import CapacityError
from capacity.records import Resources, Snapshot
from capacity.reports import ReportRequest, build_report
from capacity.store import inventory
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from tests import factories as f

GIB = f.GIB


def reference_ffd(requests: np.ndarray, node: np.ndarray) -> int:
    """First-fit decreasing one pod at a time, in plain Python, in the same order."""
    requests = np.asarray(requests, dtype="float64")
    tolerance = np.abs(node) * 1e-9
    fits = [r for r in requests if all(r <= node + tolerance)]
    oversized = len(requests) - len(fits)
    share = [max((r[i] / node[i] if node[i] > 0 else 0.0) for i in range(len(node))) for r in fits]
    order = sorted(range(len(fits)), key=lambda i: (-share[i], *(-fits[i][j] for j in range(len(node)))))
    free: list[np.ndarray] = []
    for i in order:
        pod = fits[i]
        for room in free:
            if all(room + tolerance >= pod):
                room -= pod
                break
        else:
            free.append(node - pod)
    return len(free) + oversized


@dataclasses.dataclass(frozen=True)
class Packed:
    nodes: int
    oversized: int


def first_fit_decreasing(requests: np.ndarray, node: np.ndarray) -> Packed:
    """``pack`` with one node class that every pod may use: plain first-fit decreasing."""
    node = np.asarray(node, dtype="float64")
    sizes, counts = np.unique(
        np.asarray(requests, dtype="float64").reshape(-1, len(node)), axis=0, return_counts=True
    )
    n = len(sizes)
    one = Classes(room=node[None, :], price=np.array([1.0]), zone=np.array([-1]))
    none = np.zeros(n, dtype=bool)
    placed = pack(
        one, Groups(sizes, counts, np.ones((n, 1), dtype=bool), none, none, np.zeros(n, dtype="int64"))
    )
    return Packed(len(placed.node_class), int(placed.oversized.sum()))


def pods(cpu: list[float], memory: list[float] | None = None) -> np.ndarray:
    memory = memory if memory is not None else [0.0] * len(cpu)
    return np.column_stack([cpu, memory, np.zeros(len(cpu)), np.ones(len(cpu))])


def test_ffd_small_cases() -> None:
    node = np.array([1.0, 10.0, 0.0, 110.0])
    assert first_fit_decreasing(pods([0.6, 0.6, 0.6, 0.4, 0.4, 0.4]), node).nodes == 3  # 0.6 + 0.4 each
    assert first_fit_decreasing(pods([0.5] * 4, [1.0] * 4), np.array([1.0, 1.5, 0.0, 110.0])).nodes == 4
    assert first_fit_decreasing(pods([0.1] * 10), np.array([4.0, 1.0, 0.0, 3.0])).nodes == 4  # 3 pods a node
    big = first_fit_decreasing(pods([2.0, 0.5]), np.array([1.0, 1.0, 0.0, 10.0]))
    assert (big.nodes, big.oversized) == (2, 1)  # the 2-core pod has a node of its own
    gpus = np.column_stack([[0.1] * 4, [0.0] * 4, [1.0] * 4, [1.0] * 4])
    assert first_fit_decreasing(gpus, np.array([8.0, 8.0, 1.0, 110.0])).nodes == 4  # one GPU a node
    assert first_fit_decreasing(np.empty((0, 4)), node).nodes == 0
    only_big = first_fit_decreasing(pods([2.0, 3.0]), np.array([1.0, 1.0, 0.0, 10.0]))
    assert (only_big.nodes, only_big.oversized) == (2, 2)  # nothing fits: no crash, a node each
    no_slots = first_fit_decreasing(pods([0.1, 0.1]), np.array([1.0, 1.0, 0.0, 0.0]))
    assert (no_slots.nodes, no_slots.oversized) == (2, 2)


@pytest.mark.parametrize("seed", range(40))
def test_ffd_equals_one_pod_at_a_time(seed: int) -> None:
    """Placing replicas a node at a time gives exactly the nodes one-by-one first fit gives."""
    rng = np.random.default_rng(seed)
    shapes = rng.choice([0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.5], size=(12, 2))
    replicas = rng.integers(1, 25, size=12)
    requests = np.repeat(shapes, replicas, axis=0) * [1.0, GIB]
    gpus = np.repeat(rng.random(12) < 0.2, replicas).astype(float)
    requests = np.column_stack([requests, gpus, np.ones(len(requests))])
    node = np.array([4.0, 8.0 * GIB, float(rng.integers(0, 3)), float(rng.integers(5, 40))])
    packed = first_fit_decreasing(requests[rng.permutation(len(requests))], node)
    assert packed.nodes == reference_ffd(requests, node)
    # never fewer than any single resource needs, never more than one node per pod
    fitting = requests[(requests <= node).all(axis=1)]
    bound = max(math.ceil(fitting[:, i].sum() / node[i] - 1e-9) for i in (0, 1, 2, 3) if node[i] > 0)
    assert bound <= packed.nodes - packed.oversized <= len(fitting)


# --- the simulation on hand-built frames ---------------------------------------------------------


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """prod/general: 4 nodes of 3.9 cores, a 0.4-core DaemonSet on each, six 1.3-core web pods."""
    nodes = pd.DataFrame(
        [("prod", f"n{i}", "general", 3.9, 15 * GIB, 0.0, 110, 0.2) for i in range(4)],
        columns=NODE_COLUMNS[:8],
    )
    rows = [
        (
            "prod",
            "general",
            f"n{i}",
            "kube-system",
            "DaemonSet",
            "agent",
            True,
            1,
            0.4,
            0.5 * GIB,
            0.0,
            0.1,
            GIB,
        )
        for i in range(4)
    ]  # DaemonSet pods count per node; the six web pods are one group
    rows.append(
        ("prod", "general", None, "shop", "Deployment", "web", False, 6, 1.3, GIB, 0.0, 6 * 0.5, 6 * GIB)
    )
    return pd.DataFrame(rows, columns=POD_COLUMNS[:13]), nodes


def test_daemonsets_take_room_on_every_node() -> None:
    pod_frame, node_frame = frames()
    row = simulate(pod_frame, node_frame).iloc[0]
    # 3.9 - 0.4 = 3.5 cores a node: two web pods each (three without the DaemonSet), three nodes
    assert (row["nodes"], row["nodes_needed"], row["nodes_needed_rightsized"]) == (4, 3, 3)
    assert row["monthly_savings_packing"] == pytest.approx(0.2 * HOURS_PER_MONTH)
    assert row["monthly_cost"] == pytest.approx(4 * 0.2 * HOURS_PER_MONTH)
    assert row["pods"] == 10 and row["oversized_pods"] == 0
    assert row["cpu_requested"] == pytest.approx(4 * 0.4 + 6 * 1.3)
    assert row["cpu_allocation"] == pytest.approx((4 * 0.4 + 6 * 1.3) / (4 * 3.9))
    assert row["cpu_allocatable_packed"] == pytest.approx(3 * 3.9)
    # the web pods' usage moves with them; the DaemonSets' goes with the 3 nodes left
    assert row["cpu_utilization_packed"] == pytest.approx((3 * 0.1 + 6 * 0.5) / (3 * 3.9))
    assert list(simulate(pod_frame, node_frame).columns) == COLUMNS
    cpu = fleet_utilization(simulate(pod_frame, node_frame), "cpu")
    assert cpu is not None
    assert cpu.now == pytest.approx((4 * 0.1 + 6 * 0.5) / (4 * 3.9))
    assert cpu.packed == cpu.rightsized_packed == pytest.approx((3 * 0.1 + 6 * 0.5) / (3 * 3.9))
    assert fleet_utilization(simulate(pod_frame.assign(cpu_usage=np.nan), node_frame), "cpu") is None


def test_rightsized_requests_need_fewer_nodes() -> None:
    pod_frame, node_frame = frames()
    recs = pd.DataFrame(
        [("prod", "shop", "Deployment", "web", "app", 1.3, 1.0, GIB, GIB)],
        columns=[
            "cluster", "namespace", "workload_kind", "workload", "container", "cpu_request",
            "cpu_recommended", "memory_request_bytes", "memory_recommended_bytes",
        ],
    )  # fmt: skip
    row = simulate(pod_frame, node_frame, recs).iloc[0]
    # 1.0-core pods: three a node, two nodes
    assert (row["nodes_needed"], row["nodes_needed_rightsized"]) == (3, 2)
    assert row["monthly_savings_rightsized"] == pytest.approx(2 * 0.2 * HOURS_PER_MONTH)
    assert row["cpu_requested_rightsized"] == pytest.approx(6 * 1.0 + 2 * 0.4)  # DaemonSets on 2 nodes
    # a container without a recommendation ("not enough data") keeps its request
    unknown = recs.assign(cpu_recommended=np.nan, memory_recommended_bytes=np.nan)
    assert simulate(pod_frame, node_frame, unknown).iloc[0]["nodes_needed_rightsized"] == 3


def test_recommendations_replace_todays_request_not_the_windows_average() -> None:
    pod_frame, _ = frames()
    recs = pd.DataFrame(
        [("prod", "shop", "Deployment", "web", "app", 0.55, 0.3, GIB, GIB)],  # requests averaged: 0.55
        columns=[
            "cluster", "namespace", "workload_kind", "workload", "container", "cpu_request",
            "cpu_recommended", "memory_request_bytes", "memory_recommended_bytes",
        ],
    )  # fmt: skip
    rightsized = rightsized_requests(pod_frame, recs)
    web = rightsized[rightsized["workload"] == "web"].iloc[0]
    assert web["cpu_rightsized"] == pytest.approx(0.3)  # every container recommended: their sum
    partly = recs.assign(memory_recommended_bytes=np.nan)  # memory: not enough data
    web = rightsized_requests(pod_frame, partly).query("workload == 'web'").iloc[0]
    assert web["cpu_rightsized"] == pytest.approx(1.3 + 0.3 - 0.55)  # today's request moved by the change
    assert web["memory_rightsized"] == GIB


def test_mixed_sizes_are_priced_by_the_nodes_they_need() -> None:
    """Two 3.9-core nodes at 0.2/h and one 15.9-core node at 0.8/h; a 12-core pod needs the big one."""
    nodes = pd.DataFrame(
        [("prod", "s0", "mixed", 3.9, 15 * GIB, 0.0, 110, 0.2),
         ("prod", "s1", "mixed", 3.9, 15 * GIB, 0.0, 110, 0.2),
         ("prod", "b0", "mixed", 15.9, 60 * GIB, 0.0, 110, 0.8)],
        columns=NODE_COLUMNS[:8],
    )  # fmt: skip
    pod_frame = pd.DataFrame(
        [("prod", "mixed", None, "ml", "Deployment", "big", False, 1, 12.0, GIB, 0.0, 6.0, GIB),
         ("prod", "mixed", None, "shop", "Deployment", "web", False, 2, 1.0, GIB, 0.0, 1.0, GIB)],
        columns=POD_COLUMNS[:13],
    )  # fmt: skip
    row = simulate(pod_frame, nodes).iloc[0]
    # the 12-core pod opens the big node, whose room left takes both web pods: the small ones go
    assert (row["nodes"], row["nodes_needed"], row["oversized_pods"]) == (3, 1, 0)
    assert row["node_hourly_cost"] == pytest.approx(0.2)  # the usual size's price, not the mean
    assert row["monthly_savings_packing"] == pytest.approx(2 * 0.2 * HOURS_PER_MONTH)
    assert (row["nodes_lower_bound"], row["removable"]) == (1, False)


def test_never_more_nodes_than_today_when_the_pool_is_one_size() -> None:
    """Per-resource DaemonSet room is conservative, and FFD a heuristic: today's placement caps it."""
    nodes = pd.DataFrame(
        [("prod", f"n{i}", "p", 4.0, 4 * GIB, 0.0, 110, 0.2) for i in range(2)], columns=NODE_COLUMNS[:8]
    )
    pod_frame = pd.DataFrame(
        [("prod", "p", "n0", "kube-system", "DaemonSet", "a", True, 1, 1.0, 0.0, 0.0, None, None),
         ("prod", "p", "n1", "kube-system", "DaemonSet", "b", True, 1, 0.0, GIB, 0.0, None, None),
         ("prod", "p", None, "shop", "Deployment", "x", False, 2, 1.5, 2 * GIB, 0.0, None, None),
         ("prod", "p", None, "shop", "Deployment", "y", False, 2, 2.0, 1.5 * GIB, 0.0, None, None)],
        columns=POD_COLUMNS[:13],
    )  # fmt: skip
    room = np.array([3.0, 3 * GIB, 0.0, 109.0])  # 1 core and 1 GiB off every node
    packed = pod_frame[~pod_frame["daemonset"]]
    sizes = np.repeat(packed[["cpu_request", "memory_request", "gpu_request"]].to_numpy(), [2, 2], axis=0)
    assert first_fit_decreasing(np.column_stack([sizes, np.ones(4)]), room).nodes == 4
    row = simulate(pod_frame, nodes).iloc[0]
    assert (row["nodes_needed"], row["nodes_needed_rightsized"]) == (2, 2)  # as today, not 4
    assert row["monthly_savings_packing"] == 0.0
    assert math.isnan(row["cpu_used"])  # usage unknown: NaN


def test_pools_are_packed_apart_and_vanished_nodes_ignored() -> None:
    pod_frame, node_frame = frames()
    gpu_node = pd.DataFrame([("prod", "g0", "gpu", 7.9, 60 * GIB, 1.0, 110, 1.2)], columns=NODE_COLUMNS[:8])
    gpu_node["taints"] = [[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]]
    extra = pd.DataFrame(
        [
            ("prod", "gpu", None, "ml", "Deployment", "train", False, 1, 1.0, GIB, 1.0, None, None),
            # a DaemonSet pod on a node gone from the latest snapshot: not counted
            (
                "prod",
                "general",
                "gone-node",
                "kube-system",
                "DaemonSet",
                "agent",
                True,
                1,
                3.0,
                GIB,
                0.0,
                0.1,
                GIB,
            ),
        ],
        columns=POD_COLUMNS[:13],
    )
    extra["tolerations"] = [[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], []]
    table = simulate(pd.concat([pod_frame, extra], ignore_index=True), pd.concat([node_frame, gpu_node]))
    by_pool = table.set_index("pool")
    assert by_pool.loc["gpu", "nodes_needed"] == 1  # its one GPU
    assert by_pool.loc["general", "nodes_needed"] == 3  # not 6: the 3-core DaemonSet is on no node of ours
    assert by_pool.loc["general", "pods"] == 10
    assert math.isnan(by_pool.loc["gpu", "cpu_used"])  # no usage known: NaN, not 0
    # untainted, the GPU node's room left takes five web pods: one general node is left
    untainted = simulate(
        pd.concat([pod_frame, extra], ignore_index=True),
        pd.concat([node_frame, gpu_node.drop(columns="taints")]),
    )
    assert untainted.set_index("pool")["nodes_needed"].to_dict() == {"gpu": 1, "general": 1}


# --- from the store: SQLite and PostgreSQL -------------------------------------------------------


def packed_snapshot() -> Snapshot:
    base = f.snapshot("prod", f.T0, workloads=1, nodes=4)
    agent = [
        dataclasses.replace(
            f.pod("kube-system", "agent", f"agent-{i}", n.name),
            request=Resources(0.4, 0.5 * GIB, 0.0),
            daemonset=True,
        )
        for i, n in enumerate(base.nodes)
    ]
    web = [
        dataclasses.replace(
            f.pod("shop", "web-0", f"web-0-{i}", base.nodes[i % 4].name), request=Resources(1.3, GIB, 0.0)
        )
        for i in range(6)
    ]
    done = dataclasses.replace(f.pod("shop", "web-0", "web-0-done", base.nodes[0].name), phase="Succeeded")
    pending = f.pod("shop", "web-0", "web-0-pending", None)
    elsewhere = f.pod("shop", "web-0", "web-0-elsewhere", "prod-node-gone")
    return dataclasses.replace(base, pods=[*agent, *web, done, pending, elsewhere])


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    with engine.begin() as conn:
        write_snapshot(conn, packed_snapshot(), nominal_interval_seconds=300)
    yield engine
    engine.dispose()


def test_packing_inputs_read_the_latest_bound_pods_and_nodes(store: Engine) -> None:
    with store.connect() as conn:
        pod_frame, node_frame = inventory.packing_inputs(conn)
        none_pods, none_nodes = inventory.packing_inputs(conn, clusters=["nope"])
    assert len(node_frame) == 4 and set(node_frame["pool"]) == {"general"}
    assert node_frame["cpu_allocatable"].tolist() == [3.9] * 4
    # not the finished pod, the pending one, nor the one on a node the latest snapshot lacks
    assert int(pod_frame["pods"].sum()) == 10
    daemons = pod_frame[pod_frame["daemonset"]]
    assert sorted(daemons["node"]) == [f"prod-node-{i}" for i in range(4)]  # one group per node
    web = pod_frame[~pod_frame["daemonset"]].iloc[0]
    assert (web["workload"], web["pods"], web["cpu_request"]) == ("web-0", 6, 1.3)
    assert web["cpu_usage"] == pytest.approx(6 * 0.1)  # summed over the group
    assert (pod_frame["cpu_request"] * pod_frame["pods"]).sum() == pytest.approx(4 * 0.4 + 6 * 1.3)
    assert none_pods.empty and none_nodes.empty
    row = simulate(pod_frame, node_frame).iloc[0]
    assert (row["nodes"], row["nodes_needed"]) == (4, 3)


def test_binpacking_report_and_cli(store: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = ReportRequest("binpacking", f.T0 - timedelta(days=1), f.T0 + timedelta(minutes=1))
    with store.connect() as conn:
        table = build_report(conn, request, Config())
        with pytest.raises(CapacityError, match="no --step"):
            build_report(conn, dataclasses.replace(request, step="day"), Config())
    assert list(table.columns) == COLUMNS
    assert table[["nodes", "nodes_needed"]].values.tolist() == [[4, 3]]
    out = tmp_path / "packing.csv"
    url = store.url.render_as_string(hide_password=False)
    code = main(["--db", url, "report", "binpacking", "--end", "2026-11-01T00:01:00Z", "--window", "2d",
                 "--format", "csv", "--output", str(out)])  # fmt: skip
    assert code == 0
    written = pd.read_csv(out)
    assert list(written.columns) == COLUMNS
    [pool] = written.to_dict("records")
    now, packed = (
        pool["cpu_used"] / pool["cpu_allocatable"],
        pool["cpu_used_packed"] / pool["cpu_allocatable_packed"],
    )
    said = f"fleet utilization (used / allocatable): cpu {now:.0%} now, {packed:.0%} packed"
    assert said in capsys.readouterr().err and now < packed
    assert written[["pool", "nodes", "nodes_needed"]].values.tolist() == [["general", 4, 3]]


def test_nodetypes_report_and_cli(store: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    request = ReportRequest("nodetypes", f.T0 - timedelta(days=1), f.T0 + timedelta(minutes=1))
    with store.connect() as conn:
        [row] = build_report(conn, request, Config()).to_dict("records")
        with pytest.raises(CapacityError, match="no --step"):
            build_report(conn, dataclasses.replace(request, step="day"), Config())
    # four m6i.xlarge with six 1.3-core web pods and a 0.4-core DaemonSet on each: three
    # m6i.xlarge hold them (as binpacking says); a cheaper type of the same architecture does better
    assert (row["pool"], row["instance_type"], row["nodes"]) == ("general", "m6i.xlarge", 4)
    assert row["best_monthly_cost"] <= 3 * 0.192 * HOURS_PER_MONTH + 1e-6
    assert row["monthly_savings"] == pytest.approx(row["monthly_cost"] - row["best_monthly_cost"])
    assert row["candidates"] > 100 and 1 <= row["packed"] < row["candidates"]
    url = store.url.render_as_string(hide_password=False)
    assert main(["--db", url, "report", "nodetypes", "--end", "2026-11-01T00:01:00Z", "--format", "csv"]) == 0
    assert pd.read_csv(io.StringIO(capsys.readouterr().out))["best_instance_type"].tolist() == [
        row["best_instance_type"]
    ]
