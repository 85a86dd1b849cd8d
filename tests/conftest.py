"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.pg import PostgresServer

# ---------------------------------------------------------------------------------------------
# Database fixtures: SQLite and a real throwaway PostgreSQL server
#
#   pg_server   session  one PostgresServer for the whole run (started on first use). If it can't
#                        start, the tests using it ERROR; set CAPACITY_SKIP_POSTGRES=1 to skip them.
#   db_url      function parametrized [sqlite, postgresql]: a SQLAlchemy URL for an empty database;
#                        the postgresql case is marked `postgres` (deselect with -m "not postgres").
#   sqlite_url  function SQLite only: sqlite:///<tmp_path>/capacity.db (a real file).
#   pg_url      function PostgreSQL only (marked `postgres`): a fresh database, dropped afterwards.
#   simulated_fleet
#               session  simulated_fleet(days=, seed=, now=) -> the URL of a private copy of a simulated
#                        fleet's SQLite history (written through the collector path; each distinct
#                        fleet is simulated once per run, and every caller gets its own file).
#
# Tests must dispose their engines (filterwarnings=error turns leaked connections into errors).
# ---------------------------------------------------------------------------------------------

SKIP_POSTGRES_ENV = "CAPACITY_SKIP_POSTGRES"

Fleet = Callable[..., str]


@pytest.fixture(scope="session")
def simulated_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    from capacity.config import Config
    from capacity.store.engine import open_store
    from collectors.demo import plan, write_history

    built: dict[tuple[int, int, datetime, int], Path] = {}

    def make(*, days: int, seed: int, now: datetime, interval_seconds: int = 3600) -> str:
        key = (days, seed, now, interval_seconds)
        if key not in built:
            path = tmp_path_factory.mktemp("fleet-template") / "fleet.db"
            engine = open_store(f"sqlite:///{path}")
            try:
                history = plan(days=days, interval_seconds=interval_seconds, seed=seed, now=now)
                write_history(history, engine, config=Config(), workers=1)
            finally:
                engine.dispose()
            built[key] = path
        copy = tmp_path_factory.mktemp("fleet") / "fleet.db"
        shutil.copyfile(built[key], copy)
        return f"sqlite:///{copy}"

    return make


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"{SKIP_POSTGRES_ENV}=1: PostgreSQL-backed tests disabled")
    with PostgresServer() as server:
        yield server


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/capacity.db"


def _fresh_pg_database(server: PostgresServer) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex}"
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
    else:
        # Looked up lazily so that a sqlite-only selection never starts PostgreSQL.
        yield from _fresh_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return _sqlite_url(tmp_path)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    yield from _fresh_pg_database(pg_server)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that request the server directly (pg_url, pg_server) are `postgres` tests too.
    for item in items:
        if {"pg_url", "pg_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


# --- test isolation ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Put back ``sys.modules["__main__"]`` after each test.

    Streamlit's AppTest runs pages as ``__main__`` and leaves its temporary script there;
    a later test that starts ``spawn`` worker processes (the demo) would make every worker
    re-run that script and die.
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
