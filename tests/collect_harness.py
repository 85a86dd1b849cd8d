"""Helpers shared by the collector's end-to-end tests: serve a real cluster's payloads, collect
into a database through the CLI, read back what landed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from capacity.cli import main
from capacity.store import schema as m
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.kubeapi import FakeKubeAPI


def serve_minikube(api: FakeKubeAPI, *, metrics: bool = True) -> None:
    api.set_items(Kind.PODS.path, fx.minikube_pods())
    api.set_items(Kind.NODES.path, fx.minikube_nodes())
    api.set_items(Kind.NAMESPACES.path, fx.minikube_namespaces())
    api.set_items(Kind.REPLICASETS.path, [])
    api.set_items(Kind.JOBS.path, [])
    api.set_items(Kind.RESOURCEQUOTAS.path, [])
    if metrics:
        api.set_items(Kind.POD_METRICS.path, fx.minikube_pod_metrics())
        api.set_items(Kind.NODE_METRICS.path, fx.minikube_node_metrics())


def run(*argv: str) -> int:
    return main(list(argv))


def collect(api: FakeKubeAPI, db: str, tmp_path: Path, *extra: str, cluster: str = "mini") -> int:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    return run("--db", db, "collect", "--cluster", cluster, "--kubeconfig", str(kubeconfig), *extra)


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
