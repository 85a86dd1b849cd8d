"""Fault suite, the store side: concurrent writers, first use by several collectors, kill -9 of a
writer and of a compaction, PostgreSQL stopped and restarted, SQLite on a full or read-only
filesystem. Real processes against real SQLite files and a real PostgreSQL; bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from capacity.store import schema as m
from capacity.store.engine import open_store, write_transaction
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import run, serve_minikube, snapshot_count, snapshots_by_cluster
from tests.kubeapi import Delay, FakeKubeAPI
from tests.pg import PostgresServer

REPO = fx.REPO_ROOT
TESTS = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{TESTS}"}


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        serve_minikube(server)
        yield server


def capacity(db: str, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "capacity.cli", "--db", db, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str]]:
    """Wait for every process; return (exit code, stderr) of each."""
    results = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err += "\n(killed: over time)"
        results.append((proc.returncode, err))
    return results


# --- concurrent writers ----------------------------------------------------------------------------


def test_a_sqlite_writer_holds_the_write_lock_from_its_first_statement(sqlite_url: str) -> None:
    """What made two compactions race: SQLite's deferred BEGIN left the reads before the first
    write outside the lock, so both read "no watermark yet" and both inserted one."""
    engine = open_store(sqlite_url)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0.2, isolation_level=None)
    try:
        with write_transaction(engine) as conn:
            conn.execute(select(m.RollupWatermark.cluster_id)).all()  # a read, no write yet
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free once the writer committed
        other.execute("ROLLBACK")
        with engine.connect() as reader:  # readers never wait for the lock
            other.execute("BEGIN IMMEDIATE")
            assert reader.execute(select(func.count()).select_from(m.Snapshot)).scalar() == 0
            other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


@pytest.mark.timeout(240)
def test_two_collections_of_a_new_cluster_race_through_compaction(api: FakeKubeAPI, tmp_path: Path) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    for round_ in range(4):
        db = f"sqlite:///{tmp_path}/race-{round_}.db"
        assert run("--db", db, "db", "upgrade") == 0  # the race is in compaction, not migration
        results = finish([capacity(db, "collect", "--kubeconfig", str(kubeconfig)) for _ in range(2)])
        for code, err in results:
            assert code == 0 and "Traceback" not in err and "IntegrityError" not in err, err
            assert "compact failed" not in err, err
        assert snapshots_by_cluster(db)["mini"] in (1, 2)  # the same second twice is one snapshot


@pytest.mark.timeout(240)
def test_first_use_of_an_empty_database_by_three_collectors(
    api: FakeKubeAPI, db_url: str, tmp_path: Path
) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    procs = [
        capacity(db_url, "collect", "--kubeconfig", str(kubeconfig), "--cluster", name)
        for name in ("a", "b", "c")
    ]
    for code, err in finish(procs):
        assert code == 0 and "Traceback" not in err and "already exists" not in err, err
    assert snapshots_by_cluster(db_url) == {"a": 1, "b": 1, "c": 1}


@pytest.mark.timeout(240)
def test_collectors_compaction_and_reports_all_at_once(api: FakeKubeAPI, db_url: str, tmp_path: Path) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    assert run("--db", db_url, "collect", "--kubeconfig", str(kubeconfig), "--cluster", "a") == 0
    api.inject(Kind.PODS.path, Delay(0.5), Delay(0.5))  # stretch two collections over the others
    procs = [
        capacity(db_url, "collect", "--kubeconfig", str(kubeconfig), "--cluster", "a"),
        capacity(db_url, "collect", "--kubeconfig", str(kubeconfig), "--cluster", "a"),
        capacity(db_url, "collect", "--kubeconfig", str(kubeconfig), "--cluster", "b"),
        capacity(db_url, "compact"),
        capacity(db_url, "report", "teams", "--window", "1d", "--format", "csv"),
        capacity(db_url, "status"),
    ]
    for code, err in finish(procs):
        assert code == 0 and "Traceback" not in err, err
    counts = snapshots_by_cluster(db_url)
    assert counts["b"] == 1 and 2 <= counts["a"] <= 3


# --- kill -9 -----------------------------------------------------------------------------------------

WRITER = """
import sys
from datetime import datetime, timedelta, UTC
from tests import factories as f
from capacity.store.engine import open_store, write_transaction
from capacity.store.snapshots import write_snapshot
engine = open_store(sys.argv[1])
start = datetime.fromisoformat(sys.argv[2])
for i in range(int(sys.argv[3])):
    snap = f.snapshot("prod", start + timedelta(minutes=5 * i), workloads=1500, nodes=100)
    print("begin", flush=True)
    with write_transaction(engine) as conn:
        write_snapshot(conn, snap, nominal_interval_seconds=300)
    print("done", flush=True)
"""


def kill_after(proc: subprocess.Popen[str], marker: str, delay: float) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == marker:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def whole_snapshots(db: str) -> list[tuple[int, int, int]]:
    """Return (node rows, container rows, quota rows) per stored snapshot."""
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            rows = []
            for sid in conn.execute(select(m.Snapshot.id)).scalars():
                rows.append(
                    tuple(
                        int(conn.execute(select(func.count()).where(model.snapshot_id == sid)).scalar_one())
                        for model in (m.NodeSample, m.ContainerSample, m.QuotaSample)
                    )
                )
            return rows  # type: ignore[return-value]
    finally:
        engine.dispose()


@pytest.mark.timeout(240)
def test_kill_9_mid_write_leaves_only_whole_snapshots(db_url: str) -> None:
    rng = random.Random(16)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    open_store(db_url).dispose()
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, db_url, (start + timedelta(hours=attempt)).isoformat(), "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        kill_after(proc, "begin", rng.uniform(0.05, 0.6))
    snapshots = whole_snapshots(db_url)
    assert all(rows == (100, 1500, 1) for rows in snapshots), snapshots
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            pods = conn.execute(select(func.count(), func.count(func.distinct(m.Pod.snapshot_id)))).one()
    finally:
        engine.dispose()
    assert pods[1] <= 1 and pods[0] in (0, 3000)  # the newest snapshot's pods, whole or none


COMPACTOR = """
import sys
from datetime import datetime
from capacity.config import Retention
from capacity.store.engine import open_store
from capacity.store.compaction import compact
engine = open_store(sys.argv[1])
print("begin", flush=True)
compact(engine, retention=Retention(), now=datetime.fromisoformat(sys.argv[2]))
print("done", flush=True)
"""


def _seed_history(db: str, start: datetime, hours: int) -> None:
    from capacity.store.snapshots import write_snapshot
    from tests import factories as f

    engine = open_store(db)
    try:
        for i in range(hours * 4):
            with write_transaction(engine) as conn:
                snap = f.snapshot("prod", start + timedelta(minutes=15 * i), workloads=60, nodes=6)
                write_snapshot(conn, snap, nominal_interval_seconds=900)
    finally:
        engine.dispose()


def _rollups(engine: Engine) -> list[tuple[object, ...]]:
    queries = (
        "SELECT tier, bucket_start, workload_id, container, samples, seconds, cpu_request_cs, cpu_cost "
        "FROM container_rollups ORDER BY tier, bucket_start, workload_id, container",
        "SELECT tier, bucket_start, samples, node_seconds FROM cluster_rollups ORDER BY tier, bucket_start",
        "SELECT tier, complete_until FROM rollup_watermarks ORDER BY tier",
    )
    with engine.connect() as conn:
        return [
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for query in queries
            for row in conn.execute(text(query))
        ]


@pytest.mark.timeout(240)
def test_kill_9_mid_compaction_then_compaction_again_equals_one_whole_compaction(tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    now = start + timedelta(days=3)
    killed, whole = f"sqlite:///{tmp_path}/killed.db", f"sqlite:///{tmp_path}/whole.db"
    _seed_history(killed, start, 50)
    _seed_history(whole, start, 50)
    for delay in (0.05, 0.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", COMPACTOR, killed, now.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        kill_after(proc, "begin", delay)
    for db in (killed, whole):
        [(code, err)] = finish([subprocess.Popen(
            [sys.executable, "-c", COMPACTOR, db, now.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )])  # fmt: skip
        assert code == 0, err
    engines = [create_engine(killed), create_engine(whole)]
    try:
        after_kill, reference = (_rollups(e) for e in engines)
    finally:
        for e in engines:
            e.dispose()
    assert reference and after_kill == reference


# --- PostgreSQL stopped and restarted ----------------------------------------------------------------


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the tests stop and restart it."""
    if os.environ.get("CAPACITY_SKIP_POSTGRES") == "1":
        pytest.skip("CAPACITY_SKIP_POSTGRES=1")
    with PostgresServer() as server:
        server.create_database("faults")
        yield server


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_postgres_stopped_mid_collection_then_restarted(
    own_pg: PostgresServer, api: FakeKubeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = own_pg.url("faults")
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    assert run("--db", db, "collect", "--kubeconfig", str(kubeconfig)) == 0
    before = snapshot_count(db)
    api.clear_requests()
    api.inject(Kind.PODS.path, Delay(1.5))
    proc = capacity(db, "collect", "--kubeconfig", str(kubeconfig))
    try:
        deadline = time.monotonic() + 60
        while not api.requests_for(Kind.PODS.path) and time.monotonic() < deadline:
            time.sleep(0.02)
        own_pg.halt()  # while the pods list is in flight: the write finds the server gone
        [(code, err)] = finish([proc])
        assert code == 3, err  # a database failure, not a cluster's
        lines = [ln for ln in err.splitlines() if ln.startswith("capacity:")]
        assert len(lines) == 1 and "Traceback" not in err
        assert "database" in lines[0] and "127.0.0.1" in lines[0]

        capsys.readouterr()
        assert run("--db", db, "report", "teams", "--window", "1d") == 3  # down mid-use: one line too
        assert "Traceback" not in capsys.readouterr().err
    finally:
        if not own_pg._running:
            own_pg.resume()
    assert snapshot_count(db) == before  # nothing of the failed snapshot, nothing lost
    assert run("--db", db, "collect", "--kubeconfig", str(kubeconfig)) == 0
    assert snapshot_count(db) == before + 1


@pytest.mark.postgres
def test_a_long_lived_engine_survives_a_postgres_restart(own_pg: PostgresServer) -> None:
    engine = open_store(own_pg.url("faults"))
    try:
        with engine.connect() as conn:
            conn.execute(select(func.count()).select_from(m.Snapshot)).scalar()
        own_pg.halt()
        own_pg.resume()
        with engine.connect() as conn:  # pool_pre_ping replaces the dead pooled connection
            assert conn.execute(select(func.count()).select_from(m.Snapshot)).scalar() is not None
    finally:
        engine.dispose()


# --- SQLite on a full, read-only or broken filesystem ---------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("capacity:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.timeout(240)
def test_sqlite_on_a_full_disk_fails_the_write_and_keeps_what_is_stored(
    small_tmpfs: Path, api: FakeKubeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{small_tmpfs}/c.db"
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    assert run("--db", db, "collect", "--kubeconfig", str(kubeconfig), "--cluster", "c0") == 0
    free = os.statvfs(small_tmpfs)
    # leave a few pages: the next snapshots fill them
    (small_tmpfs / "filler").write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 48 * 1024))
    codes = [0]
    for i in range(1, 40):
        code = run("--db", db, "collect", "--kubeconfig", str(kubeconfig), "--cluster", f"c{i}")
        codes.append(code)
        if code != 0:
            break
    assert codes[-1] == 3, codes  # the disk filled up: a database failure
    line = _one_error_line(capsys)
    assert "disk is full" in line and str(small_tmpfs) in line
    landed = len(codes) - 1
    assert landed > 0
    assert sum(snapshots_by_cluster(db).values()) == landed  # every earlier snapshot kept, whole
    with contextlib.closing(sqlite3.connect(f"{small_tmpfs}/c.db")) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.timeout(120)
def test_sqlite_on_a_read_only_filesystem(
    small_tmpfs: Path, api: FakeKubeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{small_tmpfs}/c.db"
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    assert run("--db", db, "collect", "--kubeconfig", str(kubeconfig)) == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    capsys.readouterr()
    assert run("--db", db, "collect", "--kubeconfig", str(kubeconfig)) == 3
    line = _one_error_line(capsys)
    assert "read-only" in line and "does its folder exist" not in line
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    assert snapshots_by_cluster(db) == {"mini": 1}


def test_sqlite_opened_read_only_fails_a_collection_as_a_database_error(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="mini")
    assert run("--db", sqlite_url, "collect", "--kubeconfig", str(kubeconfig)) == 0
    path = sqlite_url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    capsys.readouterr()
    assert run("--db", read_only, "collect", "--kubeconfig", str(kubeconfig)) == 3
    assert "read-only" in _one_error_line(capsys)
    assert snapshots_by_cluster(sqlite_url) == {"mini": 1}


def test_corrupt_sqlite_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database" * 400)
    assert run("--db", str(path), "status") == 3
    assert "is not a SQLite database or is corrupt" in _one_error_line(capsys)
