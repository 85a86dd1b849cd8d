"""What pins and repels pods, end to end: node taints, required pod anti-affinity and zone spread
from the real client against the loopback API, into a real database, and out to the packing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from capacity.store import inventory
from capacity.store import schema as m
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import collect, pod_object, serve_k3s
from tests.kubeapi import FakeKubeAPI

TAINT = {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def with_spec(pod: dict[str, Any], **spec: Any) -> dict[str, Any]:
    pod["spec"].update(spec)
    return pod


def test_taints_anti_affinity_and_zone_spread_land_and_reach_the_packing(
    api: FakeKubeAPI, db_url: str, tmp_path: Path
) -> None:
    own = {"app": "web"}
    term = {"labelSelector": {"matchLabels": own}, "topologyKey": "kubernetes.io/hostname"}
    spread = {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone",
              "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": own}}  # fmt: skip
    served = [
        with_spec(pod_object("web-0", "web", [], own),
                  affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}),
        with_spec(pod_object("api-0", "api", [], {"app": "api"}), topologySpreadConstraints=[
            {**spread, "labelSelector": {"matchLabels": {"app": "api"}}}]),
        # anti-affinity against another app's pods, and a soft spread: neither binds its own replicas
        with_spec(pod_object("cache-0", "cache", [], {"app": "cache"}),
                  affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
                  topologySpreadConstraints=[{**spread, "whenUnsatisfiable": "ScheduleAnyway"}]),
    ]  # fmt: skip
    serve_k3s(api, pods=served)
    [node] = copy.deepcopy(fx.k3s_nodes())
    node["spec"]["taints"] = [TAINT, "not a taint"]
    api.set_items(Kind.NODES.path, [node])
    assert collect(api, db_url, tmp_path, cluster="k3s") == 0
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            pods = {
                name: (repels, skew)
                for name, repels, skew in conn.execute(select(m.Pod.name, m.Pod.repels_own, m.Pod.zone_skew))
            }
            [taints] = conn.execute(select(m.Node.taints)).scalars()
            pod_frame, node_frame = inventory.packing_inputs(conn)
    finally:
        engine.dispose()
    assert pods["web-0"] == (True, None)
    assert pods["api-0"] == (False, 2)
    assert pods["cache-0"] == (False, None)
    assert taints == [TAINT]  # what is not a taint is dropped
    assert node_frame["taints"].tolist() == [[TAINT]]
    web = pod_frame[pod_frame["workload"] == "web"].iloc[0]
    assert bool(web["repels_own"]) and web["capacity_type"] == "on-demand"
    assert pod_frame.loc[pod_frame["workload"] == "api", "zone_skew"].tolist() == [2]
