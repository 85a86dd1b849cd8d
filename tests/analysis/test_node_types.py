"""The node type each pool should run: hand-built pools and offers with known cheapest answers
(architecture, GPU model, a pod too big, a selector on the instance type, a spot discount, a type
not in the catalog), the search's pruning, and the bundled catalog's shapes and offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

from capacity.analysis.node_types import COLUMNS, Offer, search
from capacity.node_shapes import aws_shape, eks_allocatable, is_burstable, offers_in
from tests.analysis.test_placement import GIB, node_frame, pod_frame

OFFERS = [
    Offer("m.large", (2.0, 8 * GIB, 0.0, 30.0), 0.10, "amd64", ""),
    Offer("m.xlarge", (4.0, 16 * GIB, 0.0, 58.0), 0.20, "amd64", ""),
    Offer("c.xlarge", (4.0, 8 * GIB, 0.0, 58.0), 0.17, "amd64", ""),
    Offer("m.4xlarge", (16.0, 64 * GIB, 0.0, 110.0), 0.80, "amd64", ""),
    Offer("m.8xlarge", (32.0, 128 * GIB, 0.0, 110.0), 2.00, "amd64", ""),
    Offer("g.arm.xlarge", (4.0, 16 * GIB, 0.0, 58.0), 0.05, "arm64", ""),  # cheapest, other arch
    Offer("gpu.a.xlarge", (4.0, 16 * GIB, 1.0, 58.0), 1.00, "amd64", "NVIDIA-A10G"),
    Offer("gpu.a.4xlarge", (16.0, 64 * GIB, 4.0, 110.0), 3.00, "amd64", "NVIDIA-A10G"),
    Offer("gpu.t.xlarge", (4.0, 16 * GIB, 1.0, 58.0), 0.50, "amd64", "NVIDIA-T4"),
]


def offers(region: str | None) -> Sequence[Offer]:
    return OFFERS


def pool(instance_type: str, nodes: int, cores: float, price: float, **extra: Any) -> pd.DataFrame:
    return node_frame(
        *[(f"n{i}", "p", cores, price, {"instance_type": instance_type, **extra}) for i in range(nodes)]
    )


def only(table: pd.DataFrame) -> dict[str, Any]:
    [row] = table.to_dict("records")
    return row


def test_the_cheapest_type_that_holds_the_pods() -> None:
    nodes = pool("m.4xlarge", 2, 16.0, 0.80)
    pods = pod_frame(("web", "p", 10, 1.5, {}))  # 15 cores, 10 GiB
    row = only(search(pods, nodes, offers))
    assert list(search(pods, nodes, offers).columns) == COLUMNS
    # m.xlarge: 2 pods a node (4 cores) for 0.20: 5 nodes, 1.00 an hour; c.xlarge (8 GiB) the same
    # 5 nodes at 0.17: 0.85; m.large: 1 pod a node, 10 at 0.10: 1.00; m.4xlarge: 10 pods a node,
    # 1 node for 0.80: the cheapest. The arm64 type is not the pool's architecture.
    assert (row["best_instance_type"], row["best_nodes"]) == ("m.4xlarge", 1)
    assert row["monthly_savings"] == pytest.approx(0.80 * 730)
    assert row["best_cpu_allocation"] == pytest.approx(15 / 16)
    pods.loc[0, "pods"] = 4  # 6 cores: c.xlarge, two nodes at 0.17 beat one m.4xlarge at 0.80
    assert only(search(pods, nodes, offers))["best_instance_type"] == "c.xlarge"


def test_gpu_pods_keep_their_gpu_model_and_count() -> None:
    nodes = pool("gpu.a.4xlarge", 1, 16.0, 3.0)
    pods = pod_frame(("train", "p", 3, 2.0, {"gpu_request": 1.0}))
    row = only(search(pods, nodes, offers))
    # three A10G pods: three gpu.a.xlarge (3.00) tie the one 4xlarge; the T4 type is another model
    assert row["best_instance_type"] in ("gpu.a.xlarge", "gpu.a.4xlarge")
    assert row["best_monthly_cost"] == pytest.approx(3.0 * 730)
    pods.loc[0, "gpu_request"] = 2.0  # two GPUs a pod: only the 4xlarge holds one
    assert only(search(pods, nodes, offers))["best_instance_type"] == "gpu.a.4xlarge"


def test_a_pod_bigger_than_a_type_rules_it_out_and_repellers_need_their_nodes() -> None:
    nodes = pool("m.4xlarge", 1, 16.0, 0.80)
    pods = pod_frame(("big", "p", 1, 6.0, {}), ("web", "p", 2, 0.5, {"repels_own": True}))
    row = only(search(pods, nodes, offers))
    assert row["best_instance_type"] == "m.4xlarge"  # 6 cores fit no xlarge
    assert row["packed"] >= 1 and row["candidates"] == 5  # neither the arm64 type nor GPU ones


def test_the_search_stops_at_the_first_bound_above_the_best() -> None:
    nodes = pool("m.4xlarge", 2, 16.0, 0.80)
    pods = pod_frame(("web", "p", 10, 1.5, {}))
    row = only(search(pods, nodes, offers))
    assert row["candidates"] == 5  # the amd64 types without GPUs
    # bounds: c.xlarge 4 x 0.17, m.large 8 x 0.10, m.xlarge 4 x 0.20, m.4xlarge 1 x 0.80 are packed
    # in that order; m.8xlarge's bound, one node at 2.00, is past the best (0.80): never packed
    assert row["packed"] == 4


def test_a_selector_on_the_instance_type_keeps_it() -> None:
    nodes = pool(
        "m.4xlarge", 2, 16.0, 0.80, labels={"pool": "p", "node.kubernetes.io/instance-type": "m.4xlarge"}
    )
    pods = pod_frame(
        ("web", "p", 4, 1.5, {"node_selector": {"node.kubernetes.io/instance-type": "m.4xlarge"}})
    )
    row = only(search(pods, nodes, offers))
    assert (row["best_instance_type"], row["best_nodes"]) == ("m.4xlarge", 1)
    assert row["note"] == "pinned to its instance type by a selector"


def test_a_spot_pool_is_priced_at_its_own_discount_and_unknown_types_are_not_searched() -> None:
    nodes = pool("m.4xlarge", 1, 16.0, 0.24, capacity_type="spot")  # 70 % off the list price
    pods = pod_frame(("web", "p", 4, 1.5, {"capacity_type": "spot"}))
    row = only(search(pods, nodes, offers))
    assert row["capacity_type"] == "spot" and row["best_instance_type"] == "c.xlarge"
    assert row["best_monthly_cost"] == pytest.approx(2 * 0.17 * 0.3 * 730)
    unknown = only(search(pods, pool("z.huge", 1, 16.0, 0.5), offers))
    assert unknown["note"] == "instance type z.huge is not in the catalog"
    assert (unknown["best_nodes"], unknown["monthly_savings"]) == (1, 0.0)


def test_the_bundled_catalog() -> None:
    large = aws_shape("m5.large")
    assert large is not None and (large.vcpu, large.memory, large.gpu, large.architecture) == (
        2,
        8 * GIB,
        0,
        "amd64",
    )
    cpu, memory, gpus, pods = eks_allocatable(large)
    assert (cpu, gpus, pods) == (1.93, 0.0, 30.0)  # 70m kube-reserved; 14 per vCPU + 2 pods
    assert memory == pytest.approx(8 * GIB * 0.9655 - (11 * 30 + 255 + 100) * 1024**2)
    a100 = aws_shape("p4d.24xlarge")
    assert a100 is not None and (a100.gpu, a100.gpu_model) == (8, "NVIDIA-A100")
    listed = {o.instance_type: o for o in offers_in("us-east-1", "USD")}
    assert len(listed) > 500 and "m5.large" in listed and not any(is_burstable(t) for t in listed)
    assert listed["m5.large"].hourly == pytest.approx(0.096)
    assert offers_in("us-east-1", "EUR") == ()  # never a price in another currency
