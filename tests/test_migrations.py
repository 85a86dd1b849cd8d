"""The Alembic migrations and the SQLAlchemy models describe the same schema, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from capacity.db.engine import create_db_engine, current_revision, head_revision, upgrade
from capacity.db.models import Base


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
