"""The database fixtures themselves: SQLite and a real throwaway PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa


def _probe_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "probe",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("cost", sa.Numeric(12, 4), nullable=False),
    )


def test_roundtrip(db_url: str, request: pytest.FixtureRequest) -> None:
    expected_dialect = request.node.callspec.params["db_url"]
    engine = sa.create_engine(db_url)
    try:
        assert engine.dialect.name == expected_dialect
        probe = _probe_table(sa.MetaData())
        with engine.begin() as conn:
            probe.metadata.create_all(conn)
            conn.execute(
                probe.insert(),
                [{"team": "payments", "cost": "12.5000"}, {"team": "search", "cost": "3.2500"}],
            )
            rows = conn.execute(sa.select(probe.c.team, probe.c.cost).order_by(probe.c.id)).all()
        assert [(team, str(cost)) for team, cost in rows] == [("payments", "12.5000"), ("search", "3.2500")]
        with engine.connect() as conn:  # committed: visible from a new connection
            assert conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() == 2
    finally:
        engine.dispose()


def test_databases_are_isolated(db_url: str, pg_url: str) -> None:
    assert db_url != pg_url
    first, second = sa.create_engine(db_url), sa.create_engine(pg_url)
    try:
        probe = _probe_table(sa.MetaData())
        with first.begin() as conn:
            probe.metadata.create_all(conn)
            conn.execute(probe.insert(), {"team": "payments", "cost": 1})
        assert sa.inspect(second).get_table_names() == []
        with second.begin() as conn:
            probe.metadata.create_all(conn)
            assert conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() == 0
        with first.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() == 1
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_an_empty_database(db_url: str, run: int) -> None:
    # Both runs create the same table: the second would fail if databases leaked between tests.
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        probe = _probe_table(sa.MetaData())
        with engine.begin() as conn:
            probe.metadata.create_all(conn, checkfirst=False)
            conn.execute(probe.insert(), {"team": f"run{run}", "cost": run})
    finally:
        engine.dispose()
