"""Fault suite, the API side: a loopback API server that misbehaves (410 on a first page, bodies cut
short, HTML, trickling answers, TLS trouble, malformed and duplicate objects) drives the real
client through ``capacity collect``. Every case checks the exit code, a one-line message, and
what the store holds afterwards (nothing half-written, nothing doubled).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from sqlalchemy import create_engine, select

from capacity.config import Config
from capacity.store import schema as m
from capacity.store.engine import open_store
from collectors.collect import collect_once
from collectors.kube import KubeSource
from collectors.source import ClusterUnreachable, Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import collect, run, serve_minikube, snapshot_count, status
from tests.kubeapi import Body, FakeKubeAPI, Html, Trickle, Truncate

MINIKUBE_PODS = 18  # bound to the node and not finished


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def config_file(tmp_path: Path, text: str = "collection: {retries: 2}\n") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("capacity:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


# --- 410 Gone, retries and their bound ------------------------------------------------------------


@pytest.mark.timeout(60)
def test_410_on_a_first_page_is_retried_within_the_budget_then_fails(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.persist(Kind.PODS.path, 410)  # every first page: the restart path used to loop forever
    started = time.monotonic()
    code = collect(api, sqlite_url, tmp_path, "--config", config_file(tmp_path))
    elapsed = time.monotonic() - started
    line = one_line(capsys)
    assert code == 4
    assert "cannot list pods: HTTP 410" in line and "after 3 attempts" in line
    assert len(api.requests_for(Kind.PODS.path)) == 3  # retries: 2, each one counted
    assert elapsed < 20
    assert snapshot_count(sqlite_url) == 0


@pytest.mark.timeout(60)
def test_410_forever_on_pod_metrics_lands_the_snapshot_without_usage(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.persist(Kind.POD_METRICS.path, 410)
    assert collect(api, sqlite_url, tmp_path, "--config", config_file(tmp_path)) == 0
    [row] = status(sqlite_url, capsys)
    assert row["pods"] == MINIKUBE_PODS and row["cpu_usage_cores"] is None
    assert any("pod metrics" in w and "410" in w for w in row["warnings"])
    assert len(api.requests_for(Kind.POD_METRICS.path)) == 3


def test_a_list_expiring_mid_way_restarts_with_backoff_and_counts_once(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.expire_continue(Kind.PODS.path, count=10)  # more than the restarts allowed
    code = collect(api, sqlite_url, tmp_path, "--page-size", "5")
    line = one_line(capsys)
    assert code == 4 and "the pods list kept expiring (4 tries)" in line
    starts = [r for r in api.requests_for(Kind.PODS.path) if "continue" not in r.query]
    assert len(starts) == 4
    assert snapshot_count(sqlite_url) == 0


# --- bodies that are not a page -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Truncate(0.5), "connection broken mid-response (got "),
        (Html(), "answered with HTML, not JSON"),
        (Body({"kind": "PodList", "metadata": {}, "items": None}), "answered without an items array (null)"),
        (Body(["not", "an", "object"]), "is not a JSON object"),
    ],
    ids=["truncated", "html", "items-null", "not-an-object"],
)
def test_a_body_that_is_not_a_page_fails_the_snapshot_in_one_line(
    api: FakeKubeAPI,
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: Any,
    expected: str,
) -> None:
    serve_minikube(api)
    api.persist(Kind.PODS.path, fault)
    code = collect(api, sqlite_url, tmp_path, "--config", config_file(tmp_path))
    line = one_line(capsys)
    assert code == 4 and "cluster mini" in line and expected in line
    assert "IncompleteRead(" not in line and "HTTP 0" not in line
    assert snapshot_count(sqlite_url) == 0


def test_one_truncated_page_is_retried(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.inject(Kind.PODS.path, Truncate(0.3), Html(502))
    assert collect(api, sqlite_url, tmp_path) == 0
    assert status(sqlite_url, capsys)[0]["pods"] == MINIKUBE_PODS


def test_items_null_from_metrics_degrades_to_usage_unknown(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    api.persist(Kind.POD_METRICS.path, Body({"kind": "PodMetricsList", "items": None}))
    assert collect(api, sqlite_url, tmp_path) == 0
    [row] = status(sqlite_url, capsys)
    assert row["cpu_usage_cores"] is None
    assert any("pod metrics list answered without an items array" in w for w in row["warnings"])


def test_a_trickling_answer_is_cut_at_the_deadline(api: FakeKubeAPI, sqlite_url: str) -> None:
    serve_minikube(api)
    api.persist(Kind.PODS.path, Trickle(0.05, chunk=32))  # ~100 KB: minutes at this pace
    configuration = client.Configuration(host=api.url)
    configuration.retries = False
    engine = open_store(sqlite_url)
    started = time.monotonic()
    try:
        with (
            KubeSource(
                client.ApiClient(configuration), cluster="mini", timeout_seconds=5, deadline_seconds=1.5
            ) as source,
            pytest.raises(ClusterUnreachable, match=r"exceeded its deadline of 1.5 s \(listing pods\)"),
        ):
            collect_once(source, engine, cluster="mini", config=Config())
    finally:
        engine.dispose()
    assert time.monotonic() - started < 4  # the deadline, plus one socket read at most
    assert snapshot_count(sqlite_url) == 0


# --- TLS and kubeconfigs --------------------------------------------------------------------------


def test_tls_failure_is_one_line_without_http_0(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_minikube(api)
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    # https:// to a server that speaks plain HTTP: the handshake fails
    kubeconfig.write_text(kubeconfig.read_text().replace("http://", "https://"))
    code = run("--db", sqlite_url, "collect", "--kubeconfig", str(kubeconfig))
    line = one_line(capsys)
    assert code == 4
    assert "cannot reach cluster mini at https://127.0.0.1:" in line and "TLS failed: " in line
    assert "HTTP 0" not in line and "_ssl.c" not in line and "SSLError" not in line
    assert snapshot_count(sqlite_url) == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test server's certificate (Debian package openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_insecure_skip_tls_verify_is_said_once_per_snapshot(
    certificate: tuple[Path, Path], sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKubeAPI(tls=certificate, insecure=True) as secure:
        serve_minikube(secure)
        kubeconfig = secure.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
        # pytest turns warnings into errors here: an InsecureRequestWarning per request would fail
        code = run("--db", sqlite_url, "collect", "--kubeconfig", str(kubeconfig))
        err = capsys.readouterr().err
    assert code == 0, err
    assert "InsecureRequestWarning" not in err and "Unverified HTTPS" not in err
    [row] = status(sqlite_url, capsys)
    assert row["pods"] == MINIKUBE_PODS
    assert [w for w in row["warnings"] if "TLS" in w] == [
        "the API server's TLS certificate is not verified (insecure-skip-tls-verify in the kubeconfig)"
    ]


def test_missing_kubeconfig_names_the_file_kubeconfig_points_at(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    code = run("--db", sqlite_url, "collect")
    line = one_line(capsys)
    assert code == 4
    assert "kubeconfig /nonexistent/kubeconfig does not exist" in line and "~/.kube" not in line


@pytest.mark.parametrize(
    "text",
    ["clusters: [oops\n", "- just\n- a list\n", "contexts: 7\ncurrent-context: x\n", "\x00\x01binary"],
    ids=["bad-yaml", "list", "wrong-types", "binary"],
)
def test_malformed_kubeconfig_is_one_line(
    text: str, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text)
    for extra in ([], ["--all-contexts"]):
        code = run("--db", sqlite_url, "collect", "--kubeconfig", str(kubeconfig), *extra)
        line = one_line(capsys)
        assert code == 4 and str(kubeconfig) in line


# --- malformed and duplicate objects --------------------------------------------------------------


def broken_payloads() -> dict[str, list[Any]]:
    """The minikube cluster with every kind of malformed object the fault run found, and more."""
    pods: list[Any] = fx.minikube_pods()
    by_name = {p["metadata"]["name"]: p for p in pods}
    coredns = next(p for n, p in by_name.items() if n.startswith("coredns"))
    coredns["spec"]["containers"][0]["resources"] = {"requests": "lots"}
    etcd = next(p for n, p in by_name.items() if n.startswith("etcd"))
    etcd["metadata"]["labels"] = ["tier", "control-plane"]
    apiserver = next(p for n, p in by_name.items() if n.startswith("kube-apiserver"))
    apiserver["spec"]["containers"][0]["resources"]["requests"]["memory"] = "99999999999999999999999Ei"
    scheduler = next(p for n, p in by_name.items() if n.startswith("kube-scheduler"))
    scheduler["spec"]["affinity"] = ["not", "a", "map"]
    nameless = copy.deepcopy(coredns)
    nameless["metadata"]["name"] = None
    pods += [None, {"metadata": None, "spec": {}}, copy.deepcopy(etcd), nameless, 42]
    nodes: list[Any] = fx.minikube_nodes()
    nodes[0]["status"]["capacity"] = "16 cores"
    nodes.append(copy.deepcopy(nodes[0]))
    namespaces: list[Any] = fx.minikube_namespaces()
    namespaces += [None, copy.deepcopy(namespaces[0])]
    return {"pods": pods, "nodes": nodes, "namespaces": namespaces}


def serve_broken(api: FakeKubeAPI) -> None:
    serve_minikube(api)
    broken = broken_payloads()
    api.set_items(Kind.PODS.path, broken["pods"])
    api.set_items(Kind.NODES.path, broken["nodes"])
    api.set_items(Kind.NAMESPACES.path, broken["namespaces"])
    api.set_items(Kind.REPLICASETS.path, [None, {"metadata": {"name": "x", "ownerReferences": 5}}])
    metrics = fx.minikube_pod_metrics()
    api.set_items(Kind.POD_METRICS.path, [*metrics, copy.deepcopy(metrics[0]), {"metadata": []}])


def test_malformed_objects_are_warnings_naming_them_and_the_snapshot_lands(
    api: FakeKubeAPI, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_broken(api)
    listed, namespaces = len(fx.minikube_pods()), len(fx.minikube_namespaces())
    node_name = fx.minikube_nodes()[0]["metadata"]["name"]
    # paged, so that positions count across pages
    assert collect(api, db_url, tmp_path, "--page-size", "7") == 0, capsys.readouterr().err
    [row] = status(db_url, capsys)
    warnings = "\n".join(row["warnings"])
    assert row["pods"] == MINIKUBE_PODS and row["nodes"] == 1  # duplicates kept once
    for expected in (
        f"pods list: item {listed} is null, not an object: ignored",
        f"pods list: item {listed + 1} has metadata null: ignored",
        f"pods list: item {listed + 3} in namespace kube-system has no valid name: ignored",
        f"pods list: item {listed + 4} is a number, not an object: ignored",
        "container coredns requests is a string, not a map: ignored",
        "labels is a list, not a map: ignored",
        "is beyond any node (over 256 TiB): ignored",
        "affinity is a list, not a map: ignored",
        "listed twice: the first kept",
        f"node {node_name} capacity is a string, not a map: ignored",
        f"node {node_name}: no capacity reported; its allocatable is priced instead",
        f"node {node_name} listed twice: the first kept",
        f"namespaces list: item {namespaces} is null",
        f"namespace {fx.minikube_namespaces()[0]['metadata']['name']} listed twice: the first kept",
        "replicasets list: item 0 is null",
        "listed twice: the first kept",
        "has metadata a list: ignored",
    ):
        assert expected in warnings, expected
    assert warnings.count("capacity is a string") == 1  # the duplicate node is not read at all
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            names = conn.execute(select(m.Pod.name)).scalars().all()
            node = conn.execute(
                select(
                    m.NodeSample.cpu_capacity, m.NodeSample.cpu_allocatable, m.PriceKeyRow.cpu_capacity
                ).join(m.PriceKeyRow, m.PriceKeyRow.id == m.NodeSample.price_key_id)
            ).one()
            requests = conn.execute(select(m.ContainerSample.memory_request)).scalars().all()
    finally:
        engine.dispose()
    assert "None" not in names and len(names) == len(set(names))
    # a capacity given as a string: the allocatable is what is priced
    assert node[0] == node.cpu_allocatable == node[2] > 0
    assert max(requests) < 64 * 1024**3  # the absurd request counted as nothing


@pytest.mark.timeout(90)
def test_malformed_objects_never_stop_the_every_loop(tmp_path: Path) -> None:
    import os
    import signal
    import sys

    db = f"sqlite:///{tmp_path}/c.db"
    with FakeKubeAPI() as api:
        serve_broken(api)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
        proc = subprocess.Popen(
            [sys.executable, "-m", "capacity.cli", "--db", db, "collect", "--kubeconfig", str(kubeconfig),
             "--every", "1s"],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(fx.REPO_ROOT)},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None and _snapshots(db) < 3:
                time.sleep(0.2)
            landed = _snapshots(db)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert landed >= 3, err
    assert proc.returncode == 0 and "Traceback" not in err


def _snapshots(db: str) -> int:
    try:
        return snapshot_count(db)
    except Exception:  # the child is still creating the schema
        return 0
