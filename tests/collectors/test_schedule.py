"""Scheduled and multi-cluster collection: alignment, backoff, several contexts, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from capacity.cli import main
from capacity.errors import CollectionError
from collectors.collect import CollectResult
from collectors.schedule import Target, next_tick, run_every
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import snapshots_by_cluster
from tests.kubeapi import Delay, FakeKubeAPI, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]


def serve(api: FakeKubeAPI) -> None:
    api.set_items(Kind.PODS.path, fx.minikube_pods())
    api.set_items(Kind.NODES.path, fx.minikube_nodes())
    api.set_items(Kind.NAMESPACES.path, fx.minikube_namespaces())


@pytest.mark.parametrize(
    ("now", "period", "jitter", "expected"),
    [
        (1000.0, 300.0, 0.0, 1200.0),  # 16:40 → 20:00 on a 5-minute grid
        (1200.0, 300.0, 0.0, 1500.0),  # exactly on a tick: the next one, never now
        (1199.0, 300.0, 7.0, 1207.0),
        (1205.0, 300.0, 7.0, 1207.0),
        (1207.0, 300.0, 7.0, 1507.0),
    ],
)
def test_next_tick_is_aligned(now: float, period: float, jitter: float, expected: float) -> None:
    assert next_tick(now, period, jitter) == expected


def fake_result(cluster: str) -> CollectResult:
    return CollectResult(cluster, datetime.now(UTC), 1, False, 1, 1, 0, 1, [], 0.01)


def test_a_failing_cluster_backs_off_and_never_stops_the_others() -> None:
    stop = threading.Event()
    calls: dict[str, int] = {"good": 0, "bad": 0}

    def good() -> CollectResult:
        calls["good"] += 1
        if calls["good"] == 6:
            stop.set()
        return fake_result("good")

    def bad() -> CollectResult:
        calls["bad"] += 1
        raise CollectionError("cannot reach cluster bad: connection refused")

    targets = [Target("bad", bad), Target("good", good)]
    rounds = run_every(targets, period=0.05, stop=stop, jitter=0.0)
    assert rounds == 6
    assert calls["good"] == 6
    # rounds 1, 2 (after 1 period), 4 (after 2 periods): exponential backoff, not every round
    assert calls["bad"] == 3
    assert targets[0].failures == 3 and "connection refused" in (targets[0].last_error or "")


def test_several_contexts_one_failing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    with FakeKubeAPI() as eu, FakeKubeAPI() as us, FakeKubeAPI() as broken:
        for api in (eu, us, broken):
            serve(api)
        broken.inject(Kind.PODS.path, 403)
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", {"prod-eu": eu, "prod-us": us, "staging": broken}
        )
        code = main(["--db", db, "collect", "--kubeconfig", str(kubeconfig), "--all-contexts"])
        err = capsys.readouterr().err
        assert code == 4
        assert "cluster staging: cannot list pods: HTTP 403" in err
        assert "1 of 3 clusters failed: staging" in err
        assert snapshots_by_cluster(db) == {"prod-eu": 1, "prod-us": 1}

        time.sleep(1.1)  # snapshot timestamps are whole seconds; the same second would replace
        code = main(["--db", db, "collect", "--kubeconfig", str(kubeconfig), "--context", "prod-us"])
        assert code == 0
        assert snapshots_by_cluster(db) == {"prod-eu": 1, "prod-us": 2}


def test_cluster_name_needs_a_single_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--db",
            f"sqlite:///{tmp_path}/c.db",
            "collect",
            "--context",
            "a",
            "--context",
            "b",
            "--cluster",
            "x",
        ]
    )
    assert code == 4
    assert "--cluster names one cluster" in capsys.readouterr().err


def test_every_runs_until_sigterm_and_finishes_the_snapshot_in_flight(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    with FakeKubeAPI() as api:
        serve(api)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "capacity.cli", "--db", db, "collect", "--kubeconfig", str(kubeconfig),
             "--every", "1s"],
            stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and snapshots_by_cluster(db, while_starting=True).get("prod", 0) < 2
            ):
                time.sleep(0.1)
            assert snapshots_by_cluster(db, while_starting=True).get("prod", 0) >= 2
            # Make the next list slow, wait until it is in flight, then ask the process to stop.
            api.clear_requests()
            api.inject(Kind.PODS.path, Delay(2.0))
            while time.monotonic() < deadline and not api.requests_for(Kind.PODS.path):
                time.sleep(0.02)
            before = snapshots_by_cluster(db, while_starting=True)["prod"]
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert snapshots_by_cluster(db)["prod"] == before + 1  # the one in flight landed
    assert "signal=SIGTERM" in err and "stopped after rounds=" in err
    lines = [ln for ln in err.splitlines() if "snapshot cluster=prod" in ln]
    assert len(lines) == before + 1
    assert all("nodes=1 pods=18 pending=1" in ln for ln in lines)


def test_status_after_scheduled_runs_is_consistent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    with FakeKubeAPI() as api:
        serve(api)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
        assert main(["--db", db, "collect", "--kubeconfig", str(kubeconfig)]) == 0
        time.sleep(1.1)  # snapshot timestamps are whole seconds
        assert main(["--db", db, "collect", "--kubeconfig", str(kubeconfig)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "status", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["snapshots"] == 2 and row["cluster"] == "prod"
