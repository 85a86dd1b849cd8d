"""Packing pods that hold a share of a GPU: a share never straddles two GPUs, so shares are
bundled into whole GPUs first; and the Alibaba GPU-sharing trace (1,523 nodes, 8,152 pods with
fractional GPU requests) packs without a violation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from capacity.analysis.placement import Classes, Groups, bundle_gpu_shares, lower_bound, pack_pods

MIB = 1024.0**2
TRACE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "more" / "alibaba-gpu-v2023"


def groups(size: list[list[float]], count: list[int], repels: list[bool] | None = None) -> Groups:
    n = len(count)
    return Groups(
        size=np.array(size, dtype="float64"),
        count=np.array(count, dtype="int64"),
        eligible=np.ones((n, 1), dtype=bool),
        repels=np.array(repels or [False] * n),
        spreads=np.zeros(n, dtype=bool),
        home=np.zeros(n, dtype="int64"),
    )


def test_shares_are_bundled_into_whole_gpus() -> None:
    found = bundle_gpu_shares(groups([[1.0, 2.0, 0.3, 1.0], [2.0, 1.0, 2.0, 1.0], [0.5, 1.0, 0.4, 1.0]],
                                     [5, 2, 3], [False, False, True]))  # fmt: skip
    # five 0.3-GPU pods: three a GPU, then two; whole-GPU pods as they are; repelling ones each a GPU
    assert found.owner.tolist() == [0, 0, 1, 2]
    assert found.pods.tolist() == [3, 2, 1, 1]
    assert found.groups.count.tolist() == [1, 1, 2, 3]
    assert found.groups.size.tolist() == [[3.0, 6.0, 1.0, 3.0], [2.0, 4.0, 1.0, 2.0], [2.0, 1.0, 2.0, 1.0],
                                          [0.5, 1.0, 1.0, 1.0]]  # fmt: skip


def test_a_share_never_straddles_two_gpus() -> None:
    two_gpus = Classes(room=np.array([[16.0, 64.0, 2.0, 110.0]]), price=np.array([1.0]), zone=np.array([-1]))
    # three 0.6-GPU pods: 1.8 GPUs would fit two as a sum, but no two of them share a GPU
    packed = pack_pods(two_gpus, groups([[1.0, 1.0, 0.6, 1.0]], [3]))
    assert packed.nodes.tolist() == [2] and packed.per_class.tolist() == [[3]]
    # four quarter pods share one GPU: one node, one GPU held
    packed = pack_pods(two_gpus, groups([[1.0, 1.0, 0.25, 1.0]], [4]))
    assert packed.nodes.tolist() == [1]
    assert packed.placement.load[0, 2] == 1.0


def _rows(name: str) -> list[dict[str, str]]:
    with open(TRACE / name, encoding="utf-8") as text:
        return list(csv.DictReader(text))


def _trace() -> tuple[Classes, Groups]:
    shapes = {
        (int(row["cpu_milli"]) / 1000, int(row["memory_mib"]) * MIB, float(row["gpu"]))
        for row in _rows("openb_node_list_all_node.csv")
    }  # the trace's node shapes, each a class
    room = np.array([[cpu, memory, gpu, 256.0] for cpu, memory, gpu in sorted(shapes)])
    price = room[:, 0] * 0.03 + room[:, 1] / 2**30 * 0.004 + room[:, 2] * 1.5
    pods: dict[tuple[float, float, float], int] = {}
    for row in _rows("openb_pod_list_default.csv"):
        gpu = int(row["num_gpu"]) * int(row["gpu_milli"]) / 1000
        key = (int(row["cpu_milli"]) / 1000, int(row["memory_mib"]) * MIB, gpu)
        pods[key] = pods.get(key, 0) + 1
    size = np.array([[cpu, memory, gpu, 1.0] for cpu, memory, gpu in pods])
    largest = int(np.argmax(room[:, 2] * 1e6 + room[:, 0]))
    n = len(pods)
    found = Groups(
        size=size,
        count=np.array(list(pods.values()), dtype="int64"),
        eligible=np.ones((n, len(room)), dtype=bool),
        repels=np.zeros(n, dtype=bool),
        spreads=np.zeros(n, dtype=bool),
        home=np.full(n, largest, dtype="int64"),
    )
    return Classes(room, price, np.full(len(room), -1, dtype="int64")), found


@pytest.mark.skipif(not TRACE.exists(), reason="the shared fixtures are beside the checkout")
def test_the_alibaba_gpu_sharing_trace_packs_without_a_violation() -> None:
    classes, trace = _trace()
    fractional = (trace.size[:, 2] > 0) & (trace.size[:, 2] < 1)
    assert trace.count[fractional].sum() > 3000  # the trace's shared-GPU pods
    packed = pack_pods(classes, trace)
    # no pod lost, none too big for every node shape
    assert packed.per_class.sum(axis=1).tolist() == trace.count.tolist()
    assert not packed.oversized.any()
    placed, bundled = packed.placement, packed.bundled
    # each node holds what it was given: CPU, memory, whole GPUs and slots within its shape
    load = np.zeros((len(placed.node_class), 4))
    np.add.at(load, placed.node, bundled.groups.size[placed.group] * placed.pods[:, None])
    assert (load <= classes.room[placed.node_class] * (1 + 1e-9)).all()
    # and each GPU holds shares that sum to one at most: a bundle is one GPU
    shares = trace.size[bundled.owner, 2]
    bundles = (shares > 0) & (shares < 1)
    assert (shares[bundles] * bundled.pods[bundles] <= 1 + 1e-9).all()
    assert (bundled.groups.size[bundles, 2] == 1.0).all()
    # never fewer nodes than the largest shape's lower bound
    demand = (trace.size * trace.count[:, None]).sum(axis=0)
    assert packed.nodes.sum() >= lower_bound(demand, classes.room.max(axis=0))
