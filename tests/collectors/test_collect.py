"""The collector end to end: the real `kubernetes` client against a loopback API server
serving real public payloads, into real SQLite and PostgreSQL databases.

Expected totals are computed here, independently, from the same JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.utils.quantity import parse_quantity
from sqlalchemy import create_engine, func, select

from capacity.config import Config
from capacity.costing import price_table
from capacity.store import schema as m
from capacity.store.engine import open_store
from capacity.store.priced import price_keys
from capacity.store.status import price_sources
from collectors.collect import collect_once
from collectors.kube import KubeSource
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import collect, run, serve_minikube, snapshot_count, status
from tests.kubeapi import Delay, Drop, FakeKubeAPI

FINISHED = {"Succeeded", "Failed"}


def q(value: Any) -> float:
    return float(parse_quantity(value)) if value is not None else 0.0


def expected_effective(pod: dict[str, Any]) -> tuple[float, float]:
    """Effective request the simple way: these fixtures have no sidecars."""
    spec = pod["spec"]
    assert not any(c.get("restartPolicy") == "Always" for c in spec.get("initContainers") or [])
    pod_level = (spec.get("resources") or {}).get("requests") or {}

    def req(c: dict[str, Any], key: str) -> float:
        res = c.get("resources") or {}
        value = (res.get("requests") or {}).get(key, (res.get("limits") or {}).get(key))
        return q(value)

    out = []
    for key in ("cpu", "memory"):
        app = sum(req(c, key) for c in spec["containers"])
        init = max((req(c, key) for c in spec.get("initContainers") or []), default=0.0)
        # Kubernetes 1.34+ pod-level resources (the minikube 1.35 fixture has one) win.
        base = q(pod_level[key]) if key in pod_level else max(app, init)
        out.append(base + q((spec.get("overhead") or {}).get(key)))
    return out[0], out[1]


def holding(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["spec"].get("nodeName") and p["status"].get("phase") not in FINISHED]


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def test_minikube_totals_match_the_json(
    api: FakeKubeAPI, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    assert collect(api, db_url, tmp_path, "--page-size", "4") == 0

    pods = fx.minikube_pods()
    bound = holding(pods)
    node = fx.minikube_nodes()[0]
    cpu_req = sum(expected_effective(p)[0] for p in bound)
    mem_req = sum(expected_effective(p)[1] for p in bound)
    running_names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in bound}
    usage_cpu = usage_mem = Decimal(0)
    for pm in fx.minikube_pod_metrics():
        if (pm["metadata"]["namespace"], pm["metadata"]["name"]) in running_names:
            for c in pm["containers"]:
                usage_cpu += parse_quantity(c["usage"]["cpu"])
                usage_mem += parse_quantity(c["usage"]["memory"])

    [row] = status(db_url, capsys)
    assert row["cluster"] == "mini"
    assert row["snapshots"] == 1
    assert row["nodes"] == 1
    assert row["pods"] == len(bound) == 18
    assert row["pending_pods"] == 1
    assert row["containers"] == sum(len(p["spec"]["containers"]) for p in bound)
    assert row["cpu_allocatable_cores"] == pytest.approx(q(node["status"]["allocatable"]["cpu"]))
    assert row["memory_allocatable_bytes"] == pytest.approx(q(node["status"]["allocatable"]["memory"]))
    assert row["cpu_requested_cores"] == pytest.approx(cpu_req)
    assert row["memory_requested_bytes"] == pytest.approx(mem_req)
    assert row["cpu_usage_cores"] == pytest.approx(float(usage_cpu))
    assert row["memory_usage_bytes"] == pytest.approx(float(usage_mem))
    assert row["latest_snapshot"].endswith("Z")

    # Paging really happened: a limit on every request and continue tokens after the first.
    pod_requests = api.requests_for(Kind.PODS.path)
    assert all(r.query.get("limit") == "4" for r in pod_requests)
    assert len(pod_requests) == -(-len(pods) // 4)
    assert sum(1 for r in pod_requests if "continue" in r.query) == len(pod_requests) - 1


def test_workloads_costs_and_pod_grain(api: FakeKubeAPI, sqlite_url: str, tmp_path: Path) -> None:
    serve_minikube(api)
    assert collect(api, sqlite_url, tmp_path) == 0
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        workloads = {
            (ns, kind, name)
            for ns, kind, name in conn.execute(select(m.Workload.namespace, m.Workload.kind, m.Workload.name))
        }
        # ReplicaSets were listed but empty: names resolve by the pod-template-hash convention.
        assert ("kube-system", "Deployment", "coredns") in workloads
        assert ("scraper", "Deployment", "e2e-deployment") in workloads
        assert ("kube-system", "StaticPod", "etcd") in workloads
        assert ("kube-system", "DaemonSet", "kindnet") in workloads
        assert ("scraper", "StatefulSet", "e2e-statefulset") in workloads
        assert ("kube-system", "Pod", "storage-provisioner") in workloads
        assert ("scraper", "Pod", "e2e-container-pending") in workloads
        # Finished pods hold nothing and are not stored: the CronJob's runs all Succeeded.
        assert not any(kind == "CronJob" for _, kind, _ in workloads)

        deployment = conn.execute(
            select(m.ContainerSample)
            .join(m.Workload, m.Workload.id == m.ContainerSample.workload_id)
            .where(m.Workload.name == "e2e-deployment", m.ContainerSample.container == "compute-pi-digits")
        ).one()
        assert deployment.replicas == 2
        assert deployment.cpu_request == pytest.approx(0.08)
        assert deployment.memory_limit == pytest.approx(2 * 30 * 1024**2)
        # allocated = sum over replicas of max(request, usage), never below the request
        assert deployment.cpu_allocated >= deployment.cpu_request
        # Its pods carry pod-level requests (50m / 20Mi) above the container's 40m / 15Mi:
        # the difference is reserved, so it is stored (and charged) as <pod-overhead>.
        overhead = conn.execute(
            select(m.ContainerSample)
            .join(m.Workload, m.Workload.id == m.ContainerSample.workload_id)
            .where(m.Workload.name == "e2e-deployment", m.ContainerSample.container == "<pod-overhead>")
        ).one()
        assert overhead.replicas == 2
        assert overhead.cpu_request == pytest.approx(2 * 0.010)
        assert overhead.memory_request == pytest.approx(2 * 5 * 1024**2)
        node = conn.execute(select(m.NodeSample)).one()
        key = conn.execute(select(m.PriceKeyRow).where(m.PriceKeyRow.id == node.price_key_id)).one()
        # what the deployment was allocated, on the one node's price key: what reports price
        allocation = conn.execute(
            select(m.ContainerAllocation).where(
                m.ContainerAllocation.workload_id == deployment.workload_id,
                m.ContainerAllocation.container == "compute-pi-digits",
            )
        ).one()
        assert allocation.price_key_id == node.price_key_id
        assert allocation.cpu_allocated == pytest.approx(deployment.cpu_allocated)
        assert allocation.memory_allocated == pytest.approx(deployment.memory_allocated)
        assert deployment.cpu_cost_hourly == 0.0 and node.hourly_price == 0.0  # no money is stored

        pending = conn.execute(
            select(m.ContainerSample)
            .join(m.Workload, m.Workload.id == m.ContainerSample.workload_id)
            .where(m.Workload.name == "e2e-container-pending")
        ).one()
        assert (pending.replicas, pending.pending_replicas) == (0, 1)
        unallocated = select(m.ContainerAllocation).where(
            m.ContainerAllocation.workload_id == pending.workload_id
        )
        assert conn.execute(unallocated).all() == []  # pending: nothing allocated, never costed

        pod_rows = conn.execute(select(m.Pod.name, m.Pod.node_name, m.Pod.daemonset)).all()
        assert len(pod_rows) == 19  # 18 holding resources + 1 pending
        assert {r.name for r in pod_rows if r.node_name is None} == {"e2e-container-pending"}
        assert {r.name for r in pod_rows if r.daemonset} == {
            "kindnet-zkpn8",
            "kube-proxy-8k9zt",
            "e2e-daemonset-kb65b",
        }

        # The node's price key: no instance-type label and no override, so at report time it
        # is priced at the default on-demand rates.
        assert (key.instance_type, key.capacity_type, key.override_hourly) == (None, "on-demand", None)
        assert (key.cpu_capacity, key.memory_capacity) == (node.cpu_capacity, node.memory_capacity)
        assert price_sources(conn) == {"default": 1}
        [priced] = price_table(price_keys(conn, [key.id]), Config().pricing).to_dict("records")
        assert priced["node_hourly"] == pytest.approx(
            node.cpu_capacity * 0.031611 + node.memory_capacity / 1024**3 * 0.004237
        )
    engine.dispose()


def test_paging_result_does_not_depend_on_page_size(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    other = sqlite_url.replace("capacity.db", "other.db")
    assert collect(api, sqlite_url, tmp_path, "--page-size", "1") == 0
    assert collect(api, other, tmp_path, "--page-size", "500") == 0
    small, big = status(sqlite_url, capsys)[0], status(other, capsys)[0]
    for key in ("pods", "containers", "cpu_requested_cores", "memory_requested_bytes", "cpu_usage_cores"):
        assert small[key] == big[key]


def test_expired_continue_restarts_the_list(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.expire_continue(Kind.PODS.path, count=2)
    assert collect(api, sqlite_url, tmp_path, "--page-size", "5") == 0
    pod_requests = api.requests_for(Kind.PODS.path)
    fresh_starts = [r for r in pod_requests if "continue" not in r.query]
    assert len(fresh_starts) == 3  # the first list and two restarts
    [row] = status(sqlite_url, capsys)
    assert row["pods"] == 18  # nothing counted twice
    assert row["containers"] == 18


def test_server_errors_and_dropped_connections_are_retried(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.PODS.path, 500, 503, 429)
    api.inject(Kind.NODES.path, Drop())
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    assert row["pods"] == 18


def test_metrics_server_missing_lands_with_usage_unknown(
    api: FakeKubeAPI, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api, metrics=False)
    assert collect(api, db_url, tmp_path) == 0
    [row] = status(db_url, capsys)
    assert row["cpu_usage_cores"] is None
    assert row["memory_usage_bytes"] is None
    assert row["cpu_requested_cores"] > 0
    assert any("pod metrics" in w and "usage unknown" in w for w in row["warnings"])
    engine = create_engine(db_url)
    with engine.connect() as conn:
        usages = conn.execute(select(m.ContainerSample.cpu_usage_sum, m.ContainerSample.usage_replicas)).all()
        assert usages and all(u.cpu_usage_sum is None and u.usage_replicas == 0 for u in usages)
        assert conn.execute(select(m.NodeSample.cpu_usage)).scalar() is None
    engine.dispose()


def test_rbac_forbidden_optional_kinds_degrade_with_warnings(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.REPLICASETS.path, 403)
    api.inject(Kind.JOBS.path, 403)
    api.inject(Kind.RESOURCEQUOTAS.path, 403)
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    forbidden = [w for w in row["warnings"] if "forbidden" in w]
    assert len(forbidden) == 3
    assert row["pods"] == 18


def test_forbidden_pods_fails_and_writes_nothing(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.PODS.path, 403)
    assert collect(api, sqlite_url, tmp_path) == 4
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "cluster mini" in err and "403" in err and "pods" in err
    assert snapshot_count(sqlite_url) == 0


def test_unreachable_cluster_is_one_line_and_writes_nothing(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKubeAPI() as gone:
        kubeconfig = gone.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
    # the server is stopped: its port now refuses connections
    config = tmp_path / "config.yaml"
    config.write_text("collection: {retries: 2}\n")
    code = run(
        "--db",
        sqlite_url,
        "--config",
        str(config),
        "collect",
        "--cluster",
        "prod",
        "--kubeconfig",
        str(kubeconfig),
    )
    err = capsys.readouterr().err.strip()
    assert code == 4
    assert err.count("\n") == 0
    assert "cannot reach cluster prod" in err and "refused" in err and "after 3 attempts" in err
    assert snapshot_count(sqlite_url) == 0


def test_timeouts_bound_every_request(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.NODES.path, *[Delay(3.0)] * 6)
    config = tmp_path / "config.yaml"
    config.write_text("collection: {retries: 1}\n")
    code = collect(api, sqlite_url, tmp_path, "--timeout", "0.3", "--config", str(config))
    err = capsys.readouterr().err.strip()
    assert code == 4
    assert "timeout after 0.3 s" in err
    assert snapshot_count(sqlite_url) == 0


def test_one_slow_response_is_retried(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.PODS.path, Delay(2.0))
    assert collect(api, sqlite_url, tmp_path, "--timeout", "0.3") == 0
    assert status(sqlite_url, capsys)[0]["pods"] == 18


def test_malformed_quantity_is_a_warning_naming_the_pod(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pods = fx.minikube_pods()
    broken = next(p for p in pods if p["metadata"]["name"].startswith("coredns"))
    broken["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    serve_minikube(api)
    api.set_items(Kind.PODS.path, pods)
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    [warning] = [w for w in row["warnings"] if "malformed" in w]
    assert f"kube-system/{broken['metadata']['name']}" in warning and "'lots'" in warning
    expected = sum(expected_effective(p)[0] for p in holding(fx.minikube_pods())) - 0.1
    assert row["cpu_requested_cores"] == pytest.approx(expected)
    assert row["pods"] == 18


def test_pod_on_a_vanished_node_is_kept_and_warned(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pods = fx.minikube_pods()
    moved = copy.deepcopy(next(p for p in pods if p["metadata"]["name"].startswith("metrics-server")))
    moved["metadata"]["name"] = "metrics-server-9d74bb658-gone1"
    moved["spec"]["nodeName"] = "node-that-was-scaled-down"
    serve_minikube(api)
    api.set_items(Kind.PODS.path, [*pods, moved])
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    assert any("node-that-was-scaled-down" in w and "not in the node list" in w for w in row["warnings"])
    assert row["pods"] == 19
    # The node that exists is not charged with the vanished node's pod.
    assert row["cpu_requested_cores"] == pytest.approx(sum(expected_effective(p)[0] for p in holding(pods)))


@pytest.mark.parametrize(
    ("nodes", "pods", "expected_nodes", "expected_pods"),
    [
        pytest.param(fx.sonobuoy_nodes, fx.sonobuoy_pods, 3, None, id="sonobuoy-aws-2017"),
        pytest.param(fx.k3s_nodes, fx.k3s_pods, 1, None, id="k3s-arm64"),
        pytest.param(fx.openshift_nodes, fx.openshift_pods, 2, None, id="openshift"),
        pytest.param(fx.libcloud_nodes, fx.libcloud_pods, 1, None, id="kubernetes-1.2-old-schema"),
        pytest.param(fx.doks_nodes, fx.eks_pods, 7, None, id="doks-nodes-eks-pods"),
    ],
)
def test_real_payloads_from_other_clusters(
    api: FakeKubeAPI,
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    nodes: Any,
    pods: Any,
    expected_nodes: int,
    expected_pods: int | None,
) -> None:
    node_items, pod_items = nodes(), pods()
    api.set_items(Kind.NODES.path, node_items)
    api.set_items(Kind.PODS.path, pod_items)
    api.set_items(Kind.NAMESPACES.path, [])
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    node_names = {n["metadata"]["name"] for n in node_items}
    bound = [p for p in holding(pod_items) if p["spec"]["nodeName"] in node_names]
    assert row["nodes"] == expected_nodes
    assert row["pods"] == len(holding(pod_items))
    assert row["cpu_allocatable_cores"] == pytest.approx(
        sum(q((n["status"].get("allocatable") or n["status"]["capacity"]).get("cpu")) for n in node_items)
    )
    assert row["cpu_requested_cores"] == pytest.approx(sum(expected_effective(p)[0] for p in bound))
    assert row["memory_requested_bytes"] == pytest.approx(sum(expected_effective(p)[1] for p in bound))
    assert row["cpu_usage_cores"] is None  # no metrics served


def test_same_timestamp_twice_keeps_one_snapshot(api: FakeKubeAPI, db_url: str) -> None:
    serve_minikube(api)
    engine = open_store(db_url)
    at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    configuration = client.Configuration()
    configuration.host = api.url
    try:
        with KubeSource(client.ApiClient(configuration), cluster="mini") as source:
            first = collect_once(source, engine, cluster="mini", config=Config(), taken_at=at)
            second = collect_once(source, engine, cluster="mini", config=Config(), taken_at=at)
        assert not first.replaced and second.replaced
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(m.Snapshot)).scalar_one() == 1
            replicas = select(func.sum(m.ContainerSample.replicas)).where(
                m.ContainerSample.container != "<pod-overhead>"
            )
            assert conn.execute(replicas).scalar_one() == 18
            assert conn.execute(select(func.count()).select_from(m.NodeSample)).scalar_one() == 1
            assert conn.execute(select(func.count()).select_from(m.Pod)).scalar_one() == 19
    finally:
        engine.dispose()


def test_the_collector_never_imports_pandas() -> None:
    """pandas (and numpy) cost the collector ~60 MB of its peak RSS and a second of start-up; only
    reports need them. Imports what ``capacity collect`` imports, in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys, capacity.cli\n"
        "from capacity.store.compaction import compact\n"
        "from collectors.collect import collect_once\n"
        "from collectors.kube import KubeSource, cluster_name, kubeconfig_contexts\n"
        "from collectors.schedule import Target, run_every, run_once, stop_on_signals\n"
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
