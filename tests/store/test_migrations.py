"""The Alembic migrations and the SQLAlchemy models describe the same schema, on both engines."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from capacity.store.engine import create_db_engine, current_revision, head_revision, upgrade
from capacity.store.schema import Base


def test_migrations_match_models(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        first = upgrade(engine)
        second = upgrade(engine)
        assert first == second == head_revision()
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_data_and_backfills_allocation(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from capacity.store.engine import _alembic_config

    engine = create_db_engine(db_url)
    try:
        cfg = _alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO clusters (id, name, created_at) VALUES (1, 'old', '2026-01-01 00:00:00')")
            )
            conn.execute(
                text(
                    "INSERT INTO nodes (id, cluster_id, name, capacity_type, labels, first_seen_at) "
                    "VALUES (1, 1, 'n1', 'on-demand', '{}', '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO snapshots (id, cluster_id, taken_at, interval_seconds, source, usage_known, "
                    "node_count, pod_count, pending_pod_count, container_count, duration_seconds, warnings) "
                    "VALUES (1, 1, '2026-01-01 00:05:00', 300, 'kubernetes', false, 1, 0, 0, 0, 1, '[]')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO node_samples (snapshot_id, node_id, cluster_id, taken_at, cpu_capacity, "
                    "memory_capacity, gpu_capacity, cpu_allocatable, memory_allocatable, gpu_allocatable, "
                    "pods_allocatable, cpu_requested, memory_requested, gpu_requested, ready, unschedulable, "
                    "hourly_price, cpu_core_hourly, memory_byte_hourly, gpu_hourly, price_source) VALUES "
                    "(1, 1, 1, '2026-01-01 00:05:00', 4, 16e9, 0, 3.9, 15e9, 0, 110, 2.5, 8e9, 0, "
                    "true, false, 0.2, 0.03, 1e-12, 0, 'default')"
                )
            )
        assert upgrade(engine) == head_revision()
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT cpu_allocated, memory_allocated, cpu_overcommit FROM node_samples")
            ).one()
        assert tuple(row) == (2.5, 8e9, 0.0)
    finally:
        engine.dispose()


def test_schema_head_constant_matches_the_migration_scripts() -> None:
    from capacity.store.engine import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


def test_rows_from_before_price_keys_keep_their_money_and_reports_say_so(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text

    from capacity.cli import main
    from capacity.config import Pricing
    from capacity.pricing import key_prices
    from capacity.store.engine import _alembic_config
    from capacity.store.snapshots import write_snapshot
    from tests import factories as f

    engine = create_db_engine(sqlite_url)
    try:
        cfg = _alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        with engine.begin() as conn:  # one node, 300 s at 0.2 an hour, as schema 0003 stored it
            for statement in LEGACY_ROWS:
                conn.execute(text(statement))
        assert upgrade(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT price_key_id FROM node_samples")).scalar() is None
        with engine.begin() as conn:  # and a snapshot collected since, one hour later
            write_snapshot(
                conn,
                f.snapshot("old", datetime(2026, 1, 1, 1, 5, tzinfo=UTC), nodes=1),
                nominal_interval_seconds=300,
            )
    finally:
        engine.dispose()
    window = [
        "--start",
        "2026-01-01T00:00",
        "--end",
        "2026-01-02T00:00",
        "--format",
        "json",
        "--db",
        sqlite_url,
    ]
    assert main(["report", "nodes", *window]) == 0
    out, err = capsys.readouterr()
    rows = {r["node"]: r for r in json.loads(out)}
    # an hour after the old one: its interval is capped at twice the nominal 300 s
    new = key_prices(Pricing(), f.node_key()).node_hourly * 600 / 3600
    assert rows["n1"]["total_cost"] == pytest.approx(0.2 * 300 / 3600)  # the stored money, as it was
    assert rows["old-node-0"]["total_cost"] == pytest.approx(new)  # priced at report time
    assert "collected before price keys" in err and err.count("\n") == 2  # the note and the price sources


LEGACY_ROWS = (
    "INSERT INTO clusters (id, name, created_at) VALUES (1, 'old', '2026-01-01 00:00:00')",
    "INSERT INTO nodes (id, cluster_id, name, capacity_type, labels, first_seen_at) "
    "VALUES (1, 1, 'n1', 'on-demand', '{}', '2026-01-01 00:00:00')",
    "INSERT INTO snapshots (id, cluster_id, taken_at, interval_seconds, source, usage_known, "
    "node_count, pod_count, pending_pod_count, container_count, duration_seconds, warnings) "
    "VALUES (1, 1, '2026-01-01 00:05:00', 300, 'kubernetes', false, 1, 0, 0, 0, 1, '[]')",
    "INSERT INTO node_samples (snapshot_id, node_id, cluster_id, taken_at, cpu_capacity, "
    "memory_capacity, gpu_capacity, cpu_allocatable, memory_allocatable, gpu_allocatable, "
    "pods_allocatable, cpu_requested, memory_requested, gpu_requested, ready, unschedulable, "
    "hourly_price, cpu_core_hourly, memory_byte_hourly, gpu_hourly, price_source, cpu_allocated, "
    "memory_allocated) VALUES (1, 1, 1, '2026-01-01 00:05:00', 4, 16e9, 0, 3.9, 15e9, 0, 110, 2.5, "
    "8e9, 0, true, false, 0.2, 0.03, 1e-12, 0, 'default', 2.5, 8e9)",
)
