"""HorizontalPodAutoscalers end to end: the real client against the loopback API, into a real
database; every field is checked against the objects served."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from capacity.store import schema as m
from collectors.source import Kind
from tests.collect_harness import collect, serve_k3s, status
from tests.kubeapi import FakeKubeAPI


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def hpa(
    name: str, kind: str = "Deployment", metrics: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
        "minReplicas": 2,
        "maxReplicas": 10,
        **spec,
    }
    if metrics is not None:
        body["metrics"] = metrics
    return {
        "metadata": {"namespace": "shop", "name": name},
        "spec": body,
        "status": {"currentReplicas": 4, "desiredReplicas": 5},
    }


def utilization(resource: str, target: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": target}},
    }


def rows(url: str) -> dict[str, tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(
                m.HpaSample.name,
                m.Workload.kind,
                m.Workload.name,
                m.HpaSample.min_replicas,
                m.HpaSample.max_replicas,
                m.HpaSample.current_replicas,
                m.HpaSample.desired_replicas,
                m.HpaSample.metrics,
            ).join(m.Workload, m.Workload.id == m.HpaSample.workload_id)
            return {name: tuple(rest) for name, *rest in conn.execute(query)}
    finally:
        engine.dispose()


def test_autoscalers_land_with_their_workload_bounds_replicas_and_targets(
    api: FakeKubeAPI, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    external = {
        "type": "External",
        "external": {
            "metric": {"name": "queue_depth"},
            "target": {"type": "AverageValue", "averageValue": "30"},
        },
    }
    broken = hpa("broken", metrics=[utilization("cpu", 70)])
    del broken["spec"]["maxReplicas"]
    sidecar = {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 60},
        },
    }
    served = [
        hpa("web", metrics=[utilization("cpu", 70), utilization("memory", 80)]),
        hpa("api", metrics=[sidecar]),
        hpa("worker", metrics=[external]),
        hpa("db", kind="StatefulSet"),  # no metrics: the API's default, 80 % CPU
        broken,
    ]
    serve_k3s(api, horizontalpodautoscalers=[*served, copy.deepcopy(served[0])])
    assert collect(api, db_url, tmp_path, cluster="k3s") == 0
    cpu70 = {"type": "Resource", "name": "cpu", "target_type": "Utilization", "target": 70.0, "container": ""}
    assert rows(db_url) == {
        "api": (
            "Deployment",
            "api",
            2,
            10,
            4,
            5,
            [{**cpu70, "type": "ContainerResource", "target": 60.0, "container": "app"}],
        ),
        "web": (
            "Deployment",
            "web",
            2,
            10,
            4,
            5,
            [cpu70, {**cpu70, "name": "memory", "target": 80.0}],
        ),
        "worker": (
            "Deployment",
            "worker",
            2,
            10,
            4,
            5,
            [
                {
                    **cpu70,
                    "type": "External",
                    "name": "queue_depth",
                    "target_type": "AverageValue",
                    "target": 30.0,
                }
            ],
        ),
        "db": ("StatefulSet", "db", 2, 10, 4, 5, [{**cpu70, "target": 80.0}]),
    }
    [row] = status(db_url, capsys)
    warnings = row["warnings"]
    assert any(
        w.startswith("horizontalpodautoscaler shop/broken: malformed object ignored") for w in warnings
    )
    assert "horizontalpodautoscaler shop/web listed twice: the first kept" in warnings


def test_forbidden_autoscalers_degrade_with_a_warning(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_k3s(api, horizontalpodautoscalers=[hpa("web")])
    api.inject(Kind.HORIZONTALPODAUTOSCALERS.path, 403)
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    [row] = status(sqlite_url, capsys)
    assert any("forbidden" in w.lower() and "autoscalers not recorded" in w for w in row["warnings"])
    assert rows(sqlite_url) == {} and row["pods"] > 0
