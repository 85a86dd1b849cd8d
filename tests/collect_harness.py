"""Helpers shared by the collector's end-to-end tests: serve a real cluster's payloads, collect
into a database through the CLI, read back what landed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from sqlalchemy import create_engine, func, select

from capacity.cli import main
from capacity.config import Config
from capacity.store import schema as m
from capacity.store.engine import open_store
from collectors.collect import collect_once
from collectors.kube import KubeSource
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.kubeapi import FakeKubeAPI


def serve_minikube(api: FakeKubeAPI, *, metrics: bool = True) -> None:
    api.set_items(Kind.PODS.path, fx.minikube_pods())
    api.set_items(Kind.NODES.path, fx.minikube_nodes())
    api.set_items(Kind.NAMESPACES.path, fx.minikube_namespaces())
    api.set_items(Kind.REPLICASETS.path, [])
    api.set_items(Kind.JOBS.path, [])
    empty = (Kind.RESOURCEQUOTAS, Kind.PERSISTENTVOLUMES, Kind.PERSISTENTVOLUMECLAIMS, Kind.STORAGECLASSES,
             Kind.SERVICES, Kind.HORIZONTALPODAUTOSCALERS)  # fmt: skip
    for kind in empty:
        api.set_items(kind.path, [])
    if metrics:
        api.set_items(Kind.POD_METRICS.path, fx.minikube_pod_metrics())
        api.set_items(Kind.NODE_METRICS.path, fx.minikube_node_metrics())


def run(*argv: str) -> int:
    return main(list(argv))


def collect(api: FakeKubeAPI, db: str, tmp_path: Path, *extra: str, cluster: str = "mini") -> int:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    return run("--db", db, "collect", "--cluster", cluster, "--kubeconfig", str(kubeconfig), *extra)


def collect_at(api: FakeKubeAPI, db: str, cluster: str, config: Config, instants: Sequence[datetime]) -> None:
    """Collect ``cluster`` from the loopback API once per instant, in process, with ``config``."""
    configuration = client.Configuration()
    configuration.host = api.url
    engine = open_store(db)
    try:
        with KubeSource(client.ApiClient(configuration), cluster=cluster) as source:
            for at in instants:
                collect_once(source, engine, cluster=cluster, config=config, taken_at=at)
    finally:
        engine.dispose()


def status(db: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert run("--db", db, "status", "--format", "json") == 0
    result: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return result


def snapshot_count(db: str) -> int:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, "snapshots"):
                return 0
            return int(conn.execute(select(func.count()).select_from(m.Snapshot)).scalar_one())
    finally:
        engine.dispose()


def snapshots_by_cluster(url: str, *, while_starting: bool = False) -> dict[str, int]:
    """Return the number of snapshots stored per cluster name.

    ``while_starting``: a store whose schema a child process is still creating counts as empty.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(m.Cluster.name, func.count(m.Snapshot.id)).join(m.Snapshot)
            return {str(name): int(n) for name, n in conn.execute(query.group_by(m.Cluster.name))}
    except Exception:
        if while_starting:
            return {}
        raise
    finally:
        engine.dispose()


def serve_k3s(api: FakeKubeAPI, **extra: list[dict[str, Any]]) -> None:
    """The k3s support bundle's objects, with ``extra`` items appended per kind name."""
    served = {
        Kind.NODES: fx.k3s_nodes(),
        Kind.PODS: fx.k3s_pods(),
        Kind.NAMESPACES: [{"metadata": {"name": n}} for n in ("default", "kube-system", "shop")],
        Kind.REPLICASETS: [],
        Kind.JOBS: [],
        Kind.RESOURCEQUOTAS: [],
        Kind.PERSISTENTVOLUMES: fx.k3s_volumes(),
        Kind.PERSISTENTVOLUMECLAIMS: fx.k3s_claims(),
        Kind.STORAGECLASSES: fx.k3s_storage_classes(),
        Kind.SERVICES: fx.k3s_services(),
        Kind.HORIZONTALPODAUTOSCALERS: [],
    }
    for kind, items in served.items():
        api.set_items(kind.path, [*items, *extra.get(kind.name.lower(), [])])


def claim_object(namespace: str, name: str, volume: str | None, size: str = "10Gi") -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": size}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec,
            "status": {"phase": "Bound" if volume else "Pending"}}  # fmt: skip


def volume_object(name: str, size: str | None, claim: tuple[str, str] | None, storage_class: str = "gp3",
            phase: str = "Bound") -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {"storageClassName": storage_class, "csi": {"driver": "ebs.csi.aws.com"},
                            "persistentVolumeReclaimPolicy": "Delete"}  # fmt: skip
    if size is not None:
        spec["capacity"] = {"storage": size}
    if claim is not None:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    labels = {"topology.kubernetes.io/zone": "us-east-1a"}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec, "status": {"phase": phase}}


def pod_object(
    name: str, owner: str, claims: list[str], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    [node] = fx.k3s_nodes()
    volumes = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    return {
        "metadata": {"namespace": "shop", "name": name, "labels": labels or {},
                     "ownerReferences": [{"kind": "StatefulSet", "name": owner, "controller": True}]},
        "spec": {"nodeName": node["metadata"]["name"], "volumes": volumes, "containers": [
            {"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
        "status": {"phase": "Running"},
    }  # fmt: skip
