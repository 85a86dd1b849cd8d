"""Fault suite, the schedule: a cluster that fails forever never starves the others, a signal ends a
wait to retry at once, and whatever one collection raises never ends the loop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.collect import CollectResult
from collectors.schedule import Target, collect_target, run_every
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import serve_minikube, snapshots_by_cluster
from tests.kubeapi import FakeKubeAPI, write_kubeconfig

ENV = {**os.environ, "PYTHONPATH": str(fx.REPO_ROOT)}


@pytest.fixture
def two_clusters() -> Iterator[tuple[FakeKubeAPI, FakeKubeAPI]]:
    with FakeKubeAPI() as healthy, FakeKubeAPI() as broken:
        serve_minikube(healthy)
        serve_minikube(broken)
        broken.persist(Kind.PODS.path, 410)  # every first page, forever
        yield healthy, broken


def spawn(db: str, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "capacity.cli", "--db", db, *argv],
        stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """SIGTERM the process; return how long it took to exit, and its stderr."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return time.monotonic() - sent, err


@pytest.mark.timeout(120)
def test_a_cluster_failing_forever_never_starves_the_others(
    two_clusters: tuple[FakeKubeAPI, FakeKubeAPI], tmp_path: Path
) -> None:
    healthy, broken = two_clusters
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"broken": broken, "healthy": healthy})
    config = tmp_path / "config.yaml"
    config.write_text("collection: {retries: 3}\n")
    db = f"sqlite:///{tmp_path}/c.db"
    proc = spawn(db, "--config", str(config), "collect", "--kubeconfig", str(kubeconfig), "--all-contexts",
                 "--every", "2s")  # fmt: skip
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and snapshots_by_cluster(db, while_starting=True).get("healthy", 0) < 3
        and proc.poll() is None
    ):
        time.sleep(0.2)
    landed = snapshots_by_cluster(db, while_starting=True)
    took, err = stop(proc)
    assert landed.get("healthy", 0) >= 3, err
    assert "broken" not in landed
    assert proc.returncode == 0 and "Traceback" not in err
    assert "failed cluster=broken" in err and "retry cluster=broken" in err
    # each failed round of the broken cluster asked a bounded number of times (retries: 3)
    first_pages = [r for r in broken.requests_for(Kind.PODS.path) if "continue" not in r.query]
    rounds = err.count("failed cluster=broken")
    assert len(first_pages) <= 4 * (rounds + 1)
    assert took < 10


@pytest.mark.timeout(120)
def test_sigterm_ends_a_wait_to_retry_at_once(
    two_clusters: tuple[FakeKubeAPI, FakeKubeAPI], tmp_path: Path
) -> None:
    _, broken = two_clusters
    kubeconfig = broken.write_kubeconfig(tmp_path / "kubeconfig", context="broken")
    config = tmp_path / "config.yaml"
    config.write_text("collection: {retries: 20}\n")  # backoff up to 30 s a wait
    db = f"sqlite:///{tmp_path}/c.db"
    proc = spawn(db, "--config", str(config), "collect", "--kubeconfig", str(kubeconfig), "--every", "1m")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(broken.requests_for(Kind.PODS.path)) < 4:
        time.sleep(0.05)
    assert len(broken.requests_for(Kind.PODS.path)) >= 4  # in its backoff: 4 s and more a wait now
    took, err = stop(proc)
    assert proc.returncode == 0, err
    assert took < 5, err
    assert "stopped cluster=broken: cluster broken: stopped while waiting to retry; nothing written" in err
    assert "stopped after rounds=1" in err
    assert snapshots_by_cluster(db, while_starting=True) == {}


def _result(cluster: str) -> CollectResult:
    from datetime import UTC, datetime

    return CollectResult(cluster, datetime.now(UTC), 1, False, 1, 1, 0, 1, [], 0.1)


def test_whatever_one_collection_raises_is_one_line_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def buggy() -> CollectResult:
        raise KeyError("a bug we have not found yet")

    calls: list[str] = []
    stop_event = threading.Event()

    def fine() -> CollectResult:
        calls.append("fine")
        if len(calls) == 3:
            stop_event.set()
        return _result("fine")

    targets = [Target("buggy", buggy), Target("fine", fine)]
    assert collect_target(targets[0]) is False
    assert targets[0].last_error == (
        "cluster buggy: internal error (KeyError: 'a bug we have not found yet'); nothing written"
        " (please report it; -v shows where)"
    )
    assert targets[0].last_exit_code == 4
    clock = iter(float(t) for t in range(0, 10_000, 5))
    with caplog.at_level(logging.INFO, logger="capacity.collect"):
        rounds = run_every(targets, period=0.01, stop=stop_event, clock=lambda: next(clock), jitter=0)
    assert rounds == 3 and len(calls) == 3  # the healthy cluster, every round
    assert caplog.text.count("failed cluster=buggy") >= 2
    assert "Traceback" not in caplog.text
