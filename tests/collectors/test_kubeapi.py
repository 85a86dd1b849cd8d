"""The fake API server and the fixture loaders, exercised through the real kubernetes client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from kubernetes import client, config

from tests import k8s_fixtures as fx
from tests.kubeapi import Delay, Drop, FakeKubeAPI, Request, list_kind, write_kubeconfig

PODS = "/api/v1/pods"
POD_METRICS = "/apis/metrics.k8s.io/v1beta1/pods"
NODE_METRICS = "/apis/metrics.k8s.io/v1beta1/nodes"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def _client(api: FakeKubeAPI, *, retries: Any = False) -> client.ApiClient:
    """A client against ``api``; ``retries=False`` so faults reach the caller unretried."""
    cfg = client.Configuration(host=api.url)
    cfg.retries = retries
    return client.ApiClient(cfg)


@pytest.fixture
def core(api: FakeKubeAPI) -> Iterator[client.CoreV1Api]:
    with _client(api) as api_client:
        yield client.CoreV1Api(api_client)


def _list_pods(core: client.CoreV1Api, **kwargs: Any) -> dict[str, Any]:
    resp = core.list_pod_for_all_namespaces(_preload_content=False, _request_timeout=5, **kwargs)
    body: dict[str, Any] = orjson.loads(resp.data)
    return body


def _status(exc: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(exc.body)
    return body


def _names(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(i["metadata"].get("namespace"), i["metadata"]["name"]) for i in items]


# -- listing and paging -----------------------------------------------------------------


def test_paging_returns_every_item_once_in_order(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    pods = fx.minikube_pods()
    api.set_items(PODS, pods)

    seen: list[dict[str, Any]] = []
    versions: set[str] = set()
    token: str | None = None
    while True:
        page = _list_pods(core, limit=7, _continue=token)
        assert (page["kind"], page["apiVersion"]) == ("PodList", "v1")
        assert len(page["items"]) <= 7
        seen.extend(page["items"])
        versions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue")
        if not token:
            assert "remainingItemCount" not in page["metadata"]
            break
        assert page["metadata"]["remainingItemCount"] == len(pods) - len(seen)

    assert seen == pods
    assert len(versions) == 1
    reqs = api.requests
    assert [r.path for r in reqs] == [PODS] * 4
    assert all(r.query["limit"] == "7" for r in reqs)
    assert "continue" not in reqs[0].query
    assert all(r.query["continue"] for r in reqs[1:])


def test_no_limit_returns_everything_in_one_compact_page(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    pods = fx.minikube_pods()
    api.set_items(PODS, pods)
    resp = core.list_pod_for_all_namespaces(_preload_content=False, _request_timeout=5)
    data = resp.data
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(data)
    body = orjson.loads(data)
    assert orjson.dumps(body) == data  # compact: no whitespace
    assert body["items"] == pods
    assert "continue" not in body["metadata"]


def test_typed_client_deserializes_pages(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    first = core.list_pod_for_all_namespaces(limit=20)
    assert len(first.items) == 20
    assert first.metadata.remaining_item_count == 5
    rest = core.list_pod_for_all_namespaces(limit=20, _continue=first.metadata._continue)
    assert len(rest.items) == 5
    assert rest.metadata._continue is None


def test_paged_list_keeps_its_snapshot_when_items_change(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    pods = fx.minikube_pods()
    api.set_items(PODS, pods)
    first = _list_pods(core, limit=10)
    api.set_items(PODS, pods[:3])
    rest = _list_pods(core, limit=100, _continue=first["metadata"]["continue"])
    assert first["items"] + rest["items"] == pods
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    fresh = _list_pods(core, limit=100)
    assert fresh["items"] == pods[:3]
    assert fresh["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]


def test_namespaced_list_and_field_selector(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    pods = fx.minikube_pods()
    api.set_items(PODS, pods)
    resp = core.list_namespaced_pod("kube-system", _preload_content=False, _request_timeout=5)
    body = orjson.loads(resp.data)
    assert body["kind"] == "PodList"
    assert body["items"] == [p for p in pods if p["metadata"]["namespace"] == "kube-system"]
    assert body["items"]

    running = _list_pods(core, field_selector="status.phase=Running")
    assert len(running["items"]) == 18
    unscheduled = _list_pods(core, field_selector="spec.nodeName=")
    assert [p["status"]["phase"] for p in unscheduled["items"]] == ["Pending"]


def test_invalid_continue_token_is_a_bad_request(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    with pytest.raises(client.ApiException) as info:
        _list_pods(core, limit=5, _continue="not-a-token")
    assert info.value.status == 400
    assert _status(info.value)["reason"] == "BadRequest"


def test_list_kinds() -> None:
    assert list_kind("/api/v1/nodes") == ("NodeList", "v1")
    assert list_kind("/api/v1/namespaces") == ("NamespaceList", "v1")
    assert list_kind("/apis/apps/v1/replicasets") == ("ReplicaSetList", "apps/v1")
    assert list_kind("/apis/batch/v1/jobs") == ("JobList", "batch/v1")
    assert list_kind("/api/v1/resourcequotas") == ("ResourceQuotaList", "v1")
    assert list_kind(POD_METRICS) == ("PodMetricsList", "metrics.k8s.io/v1beta1")
    assert list_kind(NODE_METRICS) == ("NodeMetricsList", "metrics.k8s.io/v1beta1")
    assert list_kind("/api/v1/namespaces/x/pods") == ("PodList", "v1")


def test_concurrent_requests_are_served_in_parallel(api: FakeKubeAPI) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, *[Delay(0.3)] * 8)
    cfg = client.Configuration(host=api.url)
    cfg.retries = False
    cfg.connection_pool_maxsize = 8
    with client.ApiClient(cfg) as api_client:
        core = client.CoreV1Api(api_client)

        def one(_: int) -> int:
            return len(_list_pods(core)["items"])

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(one, range(8))) == [25] * 8
        # Eight 0.3 s delays overlap rather than add up.
        assert time.monotonic() - started < 1.5
    assert len(api.requests) == 8


# -- errors and faults ------------------------------------------------------------------


def test_expired_continue_answers_410_and_the_list_restarts(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    pods = fx.minikube_pods()
    api.set_items(PODS, pods)
    first = _list_pods(core, limit=10)
    api.expire_continue(PODS)
    with pytest.raises(client.ApiException) as info:
        _list_pods(core, limit=10, _continue=first["metadata"]["continue"])
    assert info.value.status == 410
    status = _status(info.value)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "Expired",
        410,
    )

    # Restart from scratch: a full, consistent list.
    seen: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = _list_pods(core, limit=10, _continue=token)
        seen.extend(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == pods
    assert ["continue" in r.query for r in api.requests] == [False, True, False, True, True]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(500, "InternalError"), (403, "Forbidden"), (429, "TooManyRequests"), (503, "ServiceUnavailable")],
)
def test_injected_status(api: FakeKubeAPI, core: client.CoreV1Api, code: int, reason: str) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, code)
    with pytest.raises(client.ApiException) as info:
        _list_pods(core, limit=5)
    assert info.value.status == code
    status = _status(info.value)
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["reason"] == reason
    assert status["code"] == code
    assert status["message"]
    if code == 429:
        assert info.value.headers["Retry-After"] == "0"
    # Faults are consumed: the next request is served normally.
    assert len(_list_pods(core, limit=5)["items"]) == 5
    assert api.pending_faults(PODS) == []


def test_faults_are_consumed_fifo_per_path(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.set_items("/api/v1/nodes", fx.minikube_nodes())
    api.inject(PODS, 500, 403)
    node_list = core.list_node(_preload_content=False, _request_timeout=5)
    assert len(orjson.loads(node_list.data)["items"]) == 1
    statuses = []
    for _ in range(3):
        try:
            _list_pods(core)
            statuses.append(200)
        except client.ApiException as exc:
            statuses.append(exc.status)
    assert statuses == [500, 403, 200]


def test_default_client_retries_429_with_retry_after(api: FakeKubeAPI) -> None:
    # Documented behaviour of the kubernetes client: its urllib3 pool retries a 429 that
    # carries Retry-After (Retry.DEFAULT), so callers never see it.
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, 429)
    with _client(api, retries=None) as api_client:
        resp = client.CoreV1Api(api_client).list_pod_for_all_namespaces(
            limit=5, _preload_content=False, _request_timeout=5
        )
        assert len(orjson.loads(resp.data)["items"]) == 5
    assert len(api.requests) == 2


def test_delay_causes_a_client_read_timeout(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, Delay(3))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.list_pod_for_all_namespaces(limit=5, _preload_content=False, _request_timeout=0.2)
    assert time.monotonic() - started < 2
    assert len(_list_pods(core, limit=5)["items"]) == 5


def test_short_delay_is_just_slow(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, Delay(0.2))
    started = time.monotonic()
    assert len(_list_pods(core, limit=5)["items"]) == 5
    assert time.monotonic() - started >= 0.2


def test_drop_closes_the_connection_without_answer(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    api.inject(PODS, Drop())
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _list_pods(core, limit=5)
    assert len(_list_pods(core, limit=5)["items"]) == 5


def test_metrics_path_without_items_is_404(api: FakeKubeAPI) -> None:
    with _client(api) as api_client:
        custom = client.CustomObjectsApi(api_client)
        with pytest.raises(client.ApiException) as info:
            custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods", _request_timeout=5)
        assert info.value.status == 404
        status = _status(info.value)
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)

        api.set_items(POD_METRICS, fx.gke_pod_metrics())
        body = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods", _request_timeout=5)
        assert (body["kind"], body["apiVersion"]) == ("PodMetricsList", "metrics.k8s.io/v1beta1")
        assert body["items"] == fx.gke_pod_metrics()


# -- kubeconfig -------------------------------------------------------------------------


def test_kubeconfig_method_loads_and_lists(api: FakeKubeAPI, tmp_path: Path) -> None:
    api.set_items(PODS, fx.eks_pods())
    path = api.write_kubeconfig(tmp_path / "config", context="eks", cluster_name="eks-cluster")
    with config.new_client_from_config(config_file=str(path), context="eks") as api_client:
        pods = client.CoreV1Api(api_client).list_pod_for_all_namespaces(_request_timeout=5)
    assert len(pods.items) == 6


def test_kubeconfig_with_several_contexts(tmp_path: Path) -> None:
    with FakeKubeAPI() as one, FakeKubeAPI() as two:
        one.set_items(PODS, fx.eks_pods())
        two.set_items(PODS, fx.minikube_pods())
        path = write_kubeconfig(tmp_path / "config", {"one": one, "two": two}, current="two")
        contexts, active = config.list_kube_config_contexts(config_file=str(path))
        assert [c["name"] for c in contexts] == ["one", "two"]
        assert active["name"] == "two"
        counts = {}
        for context in ("one", "two", None):
            with config.new_client_from_config(config_file=str(path), context=context) as api_client:
                pods = client.CoreV1Api(api_client).list_pod_for_all_namespaces(_request_timeout=5)
            counts[context] = len(pods.items)
        assert counts == {"one": 6, "two": 25, None: 25}
        assert [r.path for r in one.requests] == [PODS]
        assert [r.path for r in two.requests] == [PODS, PODS]


def test_requests_are_recorded_with_their_query(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    api.set_items(PODS, fx.minikube_pods())
    _list_pods(core, limit=3)
    assert api.requests == [Request(PODS, {"limit": "3"})]
    api.clear_requests()
    assert api.requests == []


# -- fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "count"),
    [
        (fx.minikube_pods, 25),
        (fx.minikube_nodes, 1),
        (fx.minikube_namespaces, 6),
        (fx.minikube_kubelet_pods, 24),
        (fx.minikube_pod_metrics, 17),
        (fx.minikube_node_metrics, 1),
        (fx.doks_nodes, 7),
        (fx.eks_pods, 6),
        (fx.gke_node_metrics, 1),
        (fx.gke_pod_metrics, 10),
        (fx.sonobuoy_nodes, 3),
        (fx.sonobuoy_pods, 19),
        (fx.k3s_nodes, 1),
        (fx.k3s_pods, 8),
        (fx.openshift_pods, 35),
        (fx.openshift_nodes, 2),
        (fx.libcloud_nodes, 1),
        (fx.libcloud_pods, 1),
    ],
)
def test_fixture_counts(loader: Callable[[], list[dict[str, Any]]], count: int) -> None:
    items = loader()
    assert len(items) == count
    assert all(isinstance(i, dict) and i["metadata"]["name"] for i in items)


def test_minikube_pods_hold_their_quirks() -> None:
    pods = fx.minikube_pods()
    phases = [p["status"]["phase"] for p in pods]
    assert {phase: phases.count(phase) for phase in set(phases)} == {
        "Running": 18,
        "Failed": 4,
        "Succeeded": 2,
        "Pending": 1,
    }
    pending = [p for p in pods if p["status"]["phase"] == "Pending"]
    assert "nodeName" not in pending[0]["spec"]
    (node,) = fx.minikube_nodes()
    assert node["status"]["capacity"]["cpu"] == "14"
    assert node["status"]["capacity"]["memory"] == "8024304Ki"


def test_single_object_fixtures_have_no_kind() -> None:
    assert all("kind" not in p for p in fx.openshift_pods())
    assert all("nodeInfo" in n["status"] for n in fx.openshift_nodes())
    assert {p["metadata"]["namespace"] for p in fx.sonobuoy_pods()} == {"heptio-sonobuoy", "kube-system"}


def test_minikube_metrics_match_the_kubelet_summary() -> None:
    summary = fx.minikube_stats_summary()
    (stats,) = [p for p in summary["pods"] if p["podRef"]["name"] == "kube-apiserver-datagen-1-35"]
    (container,) = stats["containers"]
    assert container["cpu"]["usageNanoCores"] == 18842701
    assert container["memory"]["workingSetBytes"] == 221794304

    (metrics,) = [
        m for m in fx.minikube_pod_metrics() if m["metadata"]["name"] == "kube-apiserver-datagen-1-35"
    ]
    assert metrics["kind"] == "PodMetrics"
    assert metrics["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert metrics["metadata"]["namespace"] == "kube-system"
    assert metrics["window"] == "15s"
    assert metrics["timestamp"] == container["cpu"]["time"]
    assert metrics["containers"] == [
        {"name": "kube-apiserver", "usage": {"cpu": "18842701n", "memory": "216596Ki"}}
    ]

    (node,) = fx.minikube_node_metrics()
    assert node["kind"] == "NodeMetrics"
    assert node["metadata"]["name"] == "datagen-1-35"
    assert node["usage"] == {"cpu": "573081903n", "memory": f"{917110784 // 1024}Ki"}

    pod_names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in fx.minikube_pods()}
    assert set(_names(fx.minikube_pod_metrics())) <= pod_names


def test_minikube_metrics_served_as_metrics_server_would(api: FakeKubeAPI) -> None:
    api.set_items(POD_METRICS, fx.minikube_pod_metrics())
    api.set_items(NODE_METRICS, fx.minikube_node_metrics())
    with _client(api) as api_client:
        custom = client.CustomObjectsApi(api_client)
        pods = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods", _request_timeout=5)
        nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", _request_timeout=5)
        scraper = custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", "scraper", "pods", _request_timeout=5
        )
    assert pods["kind"] == "PodMetricsList"
    assert len(pods["items"]) == 17
    assert nodes["kind"] == "NodeMetricsList"
    assert nodes["items"][0]["usage"]["cpu"] == "573081903n"
    assert {m["metadata"]["namespace"] for m in scraper["items"]} == {"scraper"}


def test_fixtures_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAPACITY_FIXTURES", str(tmp_path))
    assert fx.fixtures_dir() == tmp_path
    monkeypatch.delenv("CAPACITY_FIXTURES")
    assert fx.fixtures_dir() == fx.REPO_ROOT.parent / "shared" / "fixtures"
