"""The demo: a simulated fleet's history through the collector path, idempotent, deterministic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from capacity.cli import main
from capacity.config import Config
from capacity.store import schema as m
from capacity.store.engine import open_store
from collectors.demo import plan, write_history

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)


def totals(engine: Engine) -> tuple[int, float, float, int]:
    with engine.connect() as conn:
        snapshots = conn.execute(select(func.count()).select_from(m.Snapshot)).scalar_one()
        cpu = conn.execute(select(func.sum(m.ContainerSample.cpu_request))).scalar_one()
        # what is priced: the allocations by price key (no money is stored)
        cost = conn.execute(select(func.sum(m.ContainerAllocation.cpu_allocated))).scalar_one()
        pods = conn.execute(select(func.count()).select_from(m.Pod)).scalar_one()
    return int(snapshots), float(cpu), float(cost), int(pods)


def test_history_lands_once_and_rerun_skips(db_url: str) -> None:
    engine = open_store(db_url)
    try:
        demo = plan(days=0.25, interval_seconds=3600, seed=3, now=NOW)
        assert demo.end == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
        assert len(demo.instants()) == 7
        first = write_history(demo, engine, config=Config(), workers=1)
        assert (first.written, first.skipped) == (21, 0)
        assert first.clusters == ["prod-us-east-1", "prod-eu-west-1", "staging-us-central1"]
        snapshots, cpu, cost, pods = totals(engine)
        assert snapshots == 21 and cpu > 0 and cost > 0
        assert pods == first.pods_latest > 1000  # pod grain: the newest snapshot of each cluster
        with engine.connect() as conn:
            sources = set(conn.execute(select(m.Snapshot.source)).scalars())
            intervals = set(conn.execute(select(m.Snapshot.interval_seconds)).scalars())
            warnings = [w for ws in conn.execute(select(m.Snapshot.warnings)).scalars() for w in ws]
        assert sources == {"simulator"}
        assert intervals == {3600.0}
        assert warnings == []

        again = write_history(demo, engine, config=Config(), workers=1)
        assert (again.written, again.skipped) == (0, 21)
        assert totals(engine)[0] == 21
    finally:
        engine.dispose()


def test_worker_processes_write_the_same_history(tmp_path: pytest.TempPathFactory) -> None:
    demo = plan(days=0.2, interval_seconds=1800, seed=5, now=NOW)
    results = []
    for workers, name in ((1, "serial"), (2, "parallel")):
        engine = open_store(f"sqlite:///{tmp_path}/{name}.db")
        try:
            write_history(demo, engine, config=Config(), workers=workers)
            results.append(totals(engine))
        finally:
            engine.dispose()
    serial, parallel = results
    assert serial[0] == parallel[0] == 3 * len(demo.instants())
    assert serial[1] == pytest.approx(parallel[1])
    assert serial[2] == pytest.approx(parallel[2])
    assert serial[3] == parallel[3]


def test_demo_command(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/demo.db"
    code = main(["demo", "--db", db, "--days", "0.1", "--interval", "1h", "--workers", "1", "--no-dashboard"])
    out = capsys.readouterr().out
    assert code == 0
    assert "3 clusters" in out and "snapshots written" in out
    assert main(["status", "--db", db, "--format", "json"]) == 0
    assert '"staging-us-central1"' in capsys.readouterr().out
