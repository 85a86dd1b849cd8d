"""Shared GPUs in physical GPUs: MIG profiles, time-slicing replicas, HAMi fractions, AMD and
Intel devices, from crafted node and pod payloads through the real client into a real database,
then charged: four pods on quarter slices pay one GPU-hour, idle slices are GPU idle, and teams
plus idle still add up to the node bill to the cent."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from capacity.analysis.costs import IDLE
from capacity.config import Config, config_from_mapping
from capacity.reads import Reads
from capacity.reports import ReportRequest, build_report
from capacity.store import schema as m
from capacity.store.engine import open_store
from collectors.gpu_units import gpu_units, mig_share, replicas_of
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import collect_at, serve_k3s
from tests.kubeapi import FakeKubeAPI

GPU_HOUR = 2.0
STEP = timedelta(minutes=5)
FIRST = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
INSTANTS = [FIRST + i * STEP for i in range(3)]
WINDOW = (FIRST - STEP, INSTANTS[-1] + STEP)
HOURS = len(INSTANTS) * STEP.total_seconds() / 3600


def test_gpu_units() -> None:
    assert mig_share("nvidia.com/mig-1g.5gb") == pytest.approx(1 / 7)
    assert mig_share("nvidia.com/mig-3g.40gb") == pytest.approx(3 / 7)  # A100 80GB
    assert mig_share("nvidia.com/mig-7g.80gb") == 1.0
    assert mig_share("nvidia.com/mig-1c.3g.20gb") == pytest.approx(3 / 7)  # a compute instance
    assert mig_share("nvidia.com/mig-1g.6gb") == pytest.approx(1 / 4)  # A30: four slices
    assert mig_share("nvidia.com/mig-2g.12gb") == pytest.approx(2 / 4)
    assert mig_share("nvidia.com/gpu") is None and mig_share("nvidia.com/mig-big") is None

    def parse(raw: Any, resource: str) -> float:
        return float(raw)

    assert gpu_units(
        {"nvidia.com/gpu": "2", "nvidia.com/gpucores": "30", "cpu": "4"}, parse
    ) == pytest.approx(0.6)
    assert gpu_units({"amd.com/gpu": "1", "gpu.intel.com/xe": "2"}, parse) == 3.0
    assert gpu_units({"nvidia.com/mig-2g.10gb": "3", "nvidia.com/gpu.shared": "1"}, parse) == pytest.approx(
        6 / 7 + 1
    )
    assert replicas_of({"nvidia.com/gpu.replicas": "4"}) == 4
    assert replicas_of({"nvidia.com/gpu.replicas": "lots"}) == 1 and replicas_of({}) == 1


def node(name: str, labels: dict[str, str], devices: dict[str, str]) -> dict[str, Any]:
    [k3s] = copy.deepcopy(fx.k3s_nodes())
    k3s["metadata"]["name"] = name
    k3s["metadata"]["labels"] = {**k3s["metadata"]["labels"], "kubernetes.io/hostname": name, **labels}
    k3s["status"]["capacity"].update(devices)
    k3s["status"]["allocatable"].update(devices)
    return k3s


def pod(name: str, node_name: str, team: str, limits: dict[str, str]) -> dict[str, Any]:
    owner = {"kind": "StatefulSet", "name": name.rsplit("-", 1)[0], "controller": True}
    return {
        "metadata": {"namespace": "ml", "name": name, "labels": {"team": team}, "ownerReferences": [owner]},
        "spec": {"nodeName": node_name, "containers": [
            {"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": limits}}]},
        "status": {"phase": "Running"},
    }  # fmt: skip


@pytest.fixture
def store(db_url: str) -> Iterator[str]:
    nodes = [
        node("mig", {"nvidia.com/gpu.product": "A100-SXM4-40GB"}, {"nvidia.com/mig-1g.5gb": "7"}),
        node("sliced", {"nvidia.com/gpu.replicas": "4"}, {"nvidia.com/gpu": "4"}),  # 1 GPU, 4 replicas
        node("hami", {}, {"nvidia.com/gpu": "2"}),
    ]
    pods = [
        *(pod(f"infer-{i}", "mig", "vision", {"nvidia.com/mig-1g.5gb": "1"}) for i in range(4)),
        *(pod(f"notebook-{i}", "sliced", "research", {"nvidia.com/gpu": "1"}) for i in range(4)),
        pod("batch-0", "hami", "vision", {"nvidia.com/gpu": "1", "nvidia.com/gpucores": "25"}),
    ]
    with FakeKubeAPI() as api:
        serve_k3s(api)
        api.set_items(Kind.NODES.path, nodes)
        api.set_items(Kind.PODS.path, pods)
        for kind in (Kind.SERVICES, Kind.PERSISTENTVOLUMES, Kind.PERSISTENTVOLUMECLAIMS):
            api.set_items(kind.path, [])  # nodes only: the bill is the nodes'
        collect_at(api, db_url, "gpus", config(), INSTANTS)
    yield db_url


def config() -> Config:
    return config_from_mapping({
        "pricing": {"default_rates": {"on_demand": {"cpu_core_hour": 0.03, "memory_gib_hour": 0.004,
                                                    "gpu_hour": GPU_HOUR}}},
        "attribution": {"team": {"label_keys": ["team"]}},
    })  # fmt: skip


def report(url: str, kind: str) -> Any:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return build_report(conn, ReportRequest(kind, *WINDOW), config())
    finally:
        engine.dispose()


def test_devices_and_requests_are_stored_in_physical_gpus(store: str) -> None:
    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            capacity = dict(
                conn.execute(
                    select(m.Node.name, m.NodeSample.gpu_capacity).join(
                        m.Node, m.Node.id == m.NodeSample.node_id
                    )
                ).all()
            )
            requests = dict(conn.execute(select(m.Pod.name, m.Pod.gpu_request)).all())
    finally:
        engine.dispose()
    assert capacity == pytest.approx({"mig": 1.0, "sliced": 1.0, "hami": 2.0})
    assert requests["infer-0"] == pytest.approx(1 / 7)
    assert requests["notebook-0"] == pytest.approx(1 / 4)
    assert requests["batch-0"] == pytest.approx(0.25)


def test_slices_are_charged_as_shares_of_a_gpu_and_idle_slices_as_gpu_idle(store: str) -> None:
    teams = report(store, "teams").set_index("team")
    # four notebooks on a quarter of one GPU each pay one GPU-hour an hour
    assert teams.loc["research", "gpu_cost"] == pytest.approx(GPU_HOUR * HOURS)
    # four of seven MIG slices, and a quarter of one of two GPUs
    assert teams.loc["vision", "gpu_cost"] == pytest.approx((4 / 7 + 0.25) * GPU_HOUR * HOURS)
    # idle: three of the MIG node's seven slices, none of the sliced GPU, 1.75 of HAMi's two
    engine = open_store(store)
    try:
        with engine.connect() as conn:
            idle = Reads(config().pricing).nodes(conn, *WINDOW, ()).set_index("node")["gpu_idle_cost"]
    finally:
        engine.dispose()
    assert idle.to_dict() == pytest.approx(
        {"mig": 3 / 7 * GPU_HOUR * HOURS, "sliced": 0.0, "hami": 1.75 * GPU_HOUR * HOURS}
    )
    nodes = report(store, "nodes").set_index("node")
    assert nodes["gpu_cost"].to_dict() == pytest.approx(
        {"mig": GPU_HOUR * HOURS, "sliced": GPU_HOUR * HOURS, "hami": 2 * GPU_HOUR * HOURS}
    )
    # the bill holds together to the cent
    bill = float(report(store, "clusters")["total_cost"].sum())
    assert round(float(teams["total_cost"].sum()), 2) == round(bill, 2)
    assert teams.loc[IDLE, "total_cost"] > 0
