"""Backfill of real payloads (``../shared/fixtures``) rendered as series, of a kube-state-metrics
without some families, and of a selector Prometheus itself rejects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from capacity.config import Config
from capacity.store import schema as m
from capacity.store.engine import open_store
from collectors.collect import collect_once
from collectors.simulator.exposition import Exposition
from collectors.source import Kind, RawObject
from tests import k8s_fixtures as fx
from tests.collect_harness import collect, serve_minikube
from tests.dashboard_harness import free_port
from tests.kubeapi import FakeKubeAPI
from tests.prometheus_harness import START, STEP, StaticSource, build_tsdb, run, serve_prometheus

COUNT = 6  # half an hour of instants


def _namespaces(pods: list[RawObject]) -> list[RawObject]:
    return [{"metadata": {"name": ns}} for ns in sorted({p["metadata"]["namespace"] for p in pods})]


def _clusters() -> dict[str, StaticSource]:
    k3s_pods = fx.k3s_pods()
    return {
        "minikube": StaticSource(
            {
                Kind.NAMESPACES: fx.minikube_namespaces(),
                Kind.NODES: fx.minikube_nodes(),
                Kind.PODS: fx.minikube_pods(),
                Kind.REPLICASETS: [],
                Kind.JOBS: [],
                Kind.RESOURCEQUOTAS: [],
                Kind.POD_METRICS: fx.minikube_pod_metrics(),
                Kind.NODE_METRICS: fx.minikube_node_metrics(),
            }
        ),
        # no metrics-server: usage unknown both ways
        "k3s": StaticSource(
            {
                Kind.NAMESPACES: _namespaces(k3s_pods),
                Kind.NODES: fx.k3s_nodes(),
                Kind.PODS: k3s_pods,
                Kind.REPLICASETS: [],
                Kind.JOBS: [],
                Kind.RESOURCEQUOTAS: [],
            }
        ),
    }


@dataclass
class Served:
    url: str
    live: dict[str, str]  # cluster -> database URL of its live collection


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("payloads")
    exposition = Exposition(step_seconds=STEP.total_seconds())
    live = {}
    for name, source in _clusters().items():
        live[name] = f"sqlite:///{root / f'{name}.db'}"
        engine = open_store(live[name])
        try:
            for i in range(COUNT):
                at = START + i * STEP
                collect_once(source, engine, cluster=name, config=Config(), taken_at=at)
                exposition.add(source, at, cluster=name)
        finally:
            engine.dispose()
    with serve_prometheus(build_tsdb(exposition, root / "tsdb")) as server:
        yield Served(server.url, live)


def _pod_level_excess(pods: list[RawObject]) -> tuple[float, float]:
    """Return what pod-level requests add over the containers' (running pods with a node)."""
    from collectors.quantity import parse

    cpu = memory = 0.0
    for pod in pods:
        level = (pod["spec"].get("resources") or {}).get("requests") or {}
        if (
            not level
            or not pod["spec"].get("nodeName")
            or pod["status"].get("phase") in ("Succeeded", "Failed")
        ):
            continue
        requests = [(c.get("resources") or {}).get("requests") or {} for c in pod["spec"]["containers"]]
        if "cpu" in level:
            cpu += parse(level["cpu"]) - sum(parse(r.get("cpu", "0")) for r in requests)
        if "memory" in level:
            memory += parse(level["memory"]) - sum(parse(r.get("memory", "0")) for r in requests)
    return cpu, memory


def _status(db: str) -> dict[str, object]:
    code, out, err = run("--db", db, "status", "--format", "json")
    assert code == 0, err
    (row,) = orjson.loads(out)
    assert isinstance(row, dict)
    return row


def _range(count: int = COUNT) -> list[str]:
    return ["--start", START.isoformat(), "--end", (START + (count - 1) * STEP).isoformat(), "--step", "5m"]


@pytest.mark.parametrize("cluster", ["minikube", "k3s"])
def test_real_payloads_backfill_to_the_snapshot_a_live_collection_takes(
    served: Served, tmp_path: Path, cluster: str
) -> None:
    db = f"sqlite:///{tmp_path / 'b.db'}"
    code, out, err = run(
        "--db",
        db,
        "backfill",
        "--prometheus",
        served.url,
        "--cluster",
        cluster,
        "--prometheus-selector",
        f'cluster="{cluster}"',
        *_range(),
    )
    assert code == 0, err
    assert f"{COUNT} snapshots written" in out
    live, backfilled = _status(served.live[cluster]), _status(db)
    # kube-state-metrics has no series for pod-level resources (spec.resources, beta in 1.34): a
    # backfill charges such pods their containers' requests, as the README says
    cpu, memory = _pod_level_excess(_clusters()[cluster].items[Kind.PODS])
    assert (cpu > 0) == (cluster == "minikube")  # minikube's e2e-deployment sets them
    live["cpu_requested_cores"] = float(live["cpu_requested_cores"]) - cpu  # type: ignore[arg-type]
    live["memory_requested_bytes"] = float(live["memory_requested_bytes"]) - memory  # type: ignore[arg-type]
    for key in (
        "nodes",
        "pods",
        "pending_pods",
        "containers",
        "cpu_allocatable_cores",
        "memory_allocatable_bytes",
        "cpu_requested_cores",
        "memory_requested_bytes",
        "cpu_usage_cores",
        "memory_usage_bytes",
    ):
        expected = live[key]
        assert backfilled[key] == (None if expected is None else pytest.approx(expected, rel=1e-9)), key
    if cluster == "k3s":
        assert live["cpu_usage_cores"] is None  # no metrics-server, and no cAdvisor series either
        assert "container_cpu_usage_seconds_total" in err  # the missing family is named


def test_missing_families_degrade_with_a_warning_that_names_them(tmp_path: Path) -> None:
    source = _clusters()["minikube"]
    exposition = Exposition(
        step_seconds=STEP.total_seconds(), drop=frozenset({"kube_pod_labels", "kube_pod_owner"})
    )
    for i in range(3):
        exposition.add(source, START + i * STEP)
    with serve_prometheus(build_tsdb(exposition, tmp_path / "tsdb")) as server:
        db = f"sqlite:///{tmp_path / 'b.db'}"
        code, out, err = run("--db", db, "backfill", "--prometheus", server.url, "--cluster", "m", *_range(3))
    assert code == 0, err
    assert "3 snapshots written" in out
    assert "Prometheus has no kube_pod_labels series: no pod labels: attribution by namespace only" in err
    assert "Prometheus has no kube_pod_owner series" in err


def test_a_selector_prometheus_rejects_is_one_line_with_its_message(served: Served, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    code, _, err = run(
        "--db",
        f"sqlite:///{db}",
        "backfill",
        "--prometheus",
        served.url,
        "--cluster",
        "x",
        "--prometheus-selector",
        'cluster=~"("',
        *_range(),
    )
    assert code == 4 and err.count("\n") == 1
    assert "rejected a query (bad_data:" in err and "missing closing )" in err


def _usage_by_container(db: str) -> dict[tuple[str, str], float]:
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(m.Workload.name, m.ContainerSample.container, m.ContainerSample.cpu_usage_sum).join(
                    m.Workload, m.Workload.id == m.ContainerSample.workload_id
                )
            )
            return {(str(w), str(c)): float(u) for w, c, u in rows if u is not None}
    finally:
        engine.dispose()


def test_collect_takes_usage_from_prometheus_when_there_is_no_metrics_server(tmp_path: Path) -> None:
    source = _clusters()["minikube"]
    now = datetime.now(UTC).replace(microsecond=0)
    exposition = Exposition(step_seconds=STEP.total_seconds())
    for i in range(-2, 2):  # steady usage around now: rate() over any 5 minutes of it is that usage
        exposition.add(source, now + i * STEP, cluster="minikube")
    live = f"sqlite:///{tmp_path / 'live.db'}"
    with FakeKubeAPI() as with_metrics:
        serve_minikube(with_metrics)
        assert collect(with_metrics, live, tmp_path) == 0
    db, no_usage, down = (f"sqlite:///{tmp_path / name}" for name in ("prom.db", "none.db", "down.db"))
    with serve_prometheus(build_tsdb(exposition, tmp_path / "tsdb")) as server, FakeKubeAPI() as api:
        serve_minikube(api, metrics=False)
        assert collect(api, no_usage, tmp_path) == 0
        flags = ["--usage-from", "prometheus", "--prometheus-selector", 'cluster="minikube"']
        assert collect(api, db, tmp_path, *flags, "--prometheus", server.url) == 0
        unreachable = f"http://127.0.0.1:{free_port()}"
        no_retries = tmp_path / "config.yaml"
        no_retries.write_text("prometheus:\n  retries: 1\n", encoding="utf-8")
        code, _, err = run(
            "--db",
            down,
            "--config",
            str(no_retries),
            "collect",
            "--cluster",
            "mini",
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            *flags,
            "--prometheus",
            unreachable,
        )
    assert _usage_by_container(no_usage) == {}
    expected = _usage_by_container(live)
    assert len(expected) > 5
    assert _usage_by_container(db) == pytest.approx(expected, rel=1e-6)
    # Prometheus down: the snapshot lands, its usage unknown, the reason named
    assert code == 0, err
    row = _status(down)
    assert row["cpu_usage_cores"] is None
    assert any("usage from Prometheus" in w and "connection refused" in w for w in row["warnings"])  # type: ignore[union-attr]
