"""Snapshot storage on real SQLite files and a real PostgreSQL: atomic, idempotent, UTC, intervals."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select

from capacity.errors import StoreError
from capacity.store import schema as m
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from tests import factories as f

NOMINAL = 300.0


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_store(db_url)
    yield eng
    eng.dispose()


def count(engine: Engine, model: type[m.Base]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def write(engine: Engine, snap: object) -> int:
    with engine.begin() as conn:
        return write_snapshot(conn, snap, nominal_interval_seconds=NOMINAL).snapshot_id  # type: ignore[arg-type]


def test_snapshot_round_trip(engine: Engine) -> None:
    snap = f.snapshot()
    write(engine, snap)
    assert count(engine, m.Snapshot) == 1
    assert count(engine, m.NodeSample) == 2
    assert count(engine, m.ContainerSample) == 3
    assert count(engine, m.Pod) == 6
    assert count(engine, m.QuotaSample) == 1
    assert count(engine, m.Workload) == 3
    assert count(engine, m.Namespace) == 2
    with engine.connect() as conn:
        row = conn.execute(select(m.Snapshot)).one()
        assert row.taken_at == f.T0 and row.taken_at.tzinfo is not None
        assert row.interval_seconds == NOMINAL  # first snapshot of a cluster: the nominal period
        assert row.warnings == ["pod metrics: example warning"]
        assert (row.node_count, row.pod_count, row.pending_pod_count, row.container_count) == (2, 6, 0, 6)
        labels = conn.execute(select(m.Namespace.labels).where(m.Namespace.name == "shop")).scalar_one()
        assert labels == {"team": "checkout"}
        pod = conn.execute(select(m.Pod).where(m.Pod.name == "web-0-abc-0")).one()
        assert pod.tolerations == [{"key": "spot", "operator": "Exists"}]
        assert pod.node_selector == {"kubernetes.io/os": "linux"}


def test_same_cluster_and_time_twice_replaces(engine: Engine) -> None:
    write(engine, f.snapshot())
    write(engine, f.snapshot(workloads=5))
    assert count(engine, m.Snapshot) == 1
    assert count(engine, m.ContainerSample) == 5  # the second write, not 3 + 5
    assert count(engine, m.NodeSample) == 2
    assert count(engine, m.Pod) == 10
    assert count(engine, m.Workload) == 5  # dimensions are upserted, never duplicated


def test_failure_mid_write_leaves_nothing_behind(engine: Engine) -> None:
    write(engine, f.snapshot(taken_at=f.T0))
    broken = f.snapshot(taken_at=f.T0 + timedelta(minutes=5), workloads=4)
    # The same pod twice violates the pods primary key: the very last insert of the write.
    broken.pods.append(broken.pods[0])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        write(engine, broken)
    assert count(engine, m.Snapshot) == 1
    assert count(engine, m.ContainerSample) == 3
    assert count(engine, m.Workload) == 3  # the 4th workload's dimension row rolled back too
    with engine.connect() as conn:
        assert {p for p in conn.execute(select(m.Pod.snapshot_id)).scalars()} == {1}


def test_interval_is_time_since_previous_capped_at_twice_nominal(engine: Engine) -> None:
    times = [f.T0, f.T0 + timedelta(minutes=5), f.T0 + timedelta(minutes=12), f.T0 + timedelta(hours=3)]
    for t in times:
        write(engine, f.snapshot(taken_at=t))
    with engine.connect() as conn:
        intervals = list(
            conn.execute(select(m.Snapshot.interval_seconds).order_by(m.Snapshot.taken_at)).scalars()
        )
    assert intervals == [300.0, 300.0, 420.0, 600.0]  # a 3 h outage counts 2 x 5 min, not 3 h


def test_backfilled_snapshot_shortens_the_next_and_keeps_newest_pods(engine: Engine) -> None:
    write(engine, f.snapshot(taken_at=f.T0))
    write(engine, f.snapshot(taken_at=f.T0 + timedelta(minutes=8), workloads=2))
    write(engine, f.snapshot(taken_at=f.T0 + timedelta(minutes=4), workloads=6))  # late arrival
    with engine.connect() as conn:
        intervals = list(
            conn.execute(select(m.Snapshot.interval_seconds).order_by(m.Snapshot.taken_at)).scalars()
        )
        assert intervals == [300.0, 240.0, 240.0]
        # pod grain holds the newest snapshot (2 workloads x 2 pods), not the backfilled one
        assert conn.execute(select(func.count()).select_from(m.Pod)).scalar_one() == 4
        newest = conn.execute(select(func.max(m.Snapshot.id))).scalar_one()
        assert set(conn.execute(select(m.Pod.snapshot_id)).scalars()) == {newest - 1}


def test_clusters_are_kept_apart(engine: Engine) -> None:
    write(engine, f.snapshot("prod-eu"))
    write(engine, f.snapshot("prod-us", workloads=2))
    write(engine, f.snapshot("prod-us", taken_at=f.T0 + timedelta(minutes=5), workloads=1))
    with engine.connect() as conn:
        query = select(m.Cluster.name, func.count(m.Pod.name)).join(m.Pod).group_by(m.Cluster.name)
        per_cluster = {name: n for name, n in conn.execute(query)}
    assert per_cluster == {"prod-eu": 6, "prod-us": 2}


def test_timestamps_are_stored_in_utc(engine: Engine) -> None:
    cet = timezone(timedelta(hours=1))
    write(engine, f.snapshot(taken_at=f.T0.astimezone(cet)))
    with engine.connect() as conn:
        stored = conn.execute(select(m.Snapshot.taken_at)).scalar_one()
    assert stored == f.T0 and stored.utcoffset() == timedelta(0)
    naive = dataclasses.replace(f.snapshot(), taken_at=f.T0.replace(tzinfo=None))
    with pytest.raises(Exception, match="timezone-aware"):
        write(engine, naive)


def test_node_attributes_follow_the_latest_snapshot(engine: Engine) -> None:
    write(engine, f.snapshot())
    later = f.snapshot(taken_at=f.T0 + timedelta(minutes=5))
    later.nodes[0] = dataclasses.replace(later.nodes[0], capacity_type="spot", node_pool="spot-pool")
    write(engine, later)
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.Node.name, m.Node.capacity_type, m.Node.node_pool).order_by(m.Node.name)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("prod-node-0", "spot", "spot-pool"),
        ("prod-node-1", "on-demand", "general"),
    ]


def test_locked_sqlite_is_a_clear_error(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import capacity.store.engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    eng = open_store(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        from capacity.store.engine import translate_db_errors

        with pytest.raises(StoreError) as caught, translate_db_errors(eng.url):
            write(eng, f.snapshot())
        assert "is locked" in str(caught.value) and "capacity.db" in str(caught.value)
    finally:
        holder.rollback()
        holder.close()
        eng.dispose()
    eng = open_store(sqlite_url)
    try:
        assert count(eng, m.Snapshot) == 0
    finally:
        eng.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    eng = open_store(sqlite_url)
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0
    finally:
        eng.dispose()
