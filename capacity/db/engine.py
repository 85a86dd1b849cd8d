"""Opening the database: URL resolution, SQLite pragmas, migrations on first use, error translation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from capacity.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ENV_DATABASE_URL = "CAPACITY_DATABASE_URL"
DEFAULT_URL = "sqlite:///capacity.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def resolve_url(url: str | None) -> str:
    """Return the database URL: the argument, ``$CAPACITY_DATABASE_URL``, or ``capacity.db`` here.

    A bare filesystem path is taken as a SQLite file.
    """
    chosen = url or os.environ.get(ENV_DATABASE_URL) or DEFAULT_URL
    if "://" not in chosen:
        chosen = f"sqlite:///{chosen}"
    if chosen.startswith("postgresql://") or chosen.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def masked(url: str | URL) -> str:
    """Return the URL with any password replaced by ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return str(url)
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets a collector write while the dashboard reads; the busy timeout makes a
        # second writer wait instead of failing at once.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def describe_db_error(exc: BaseException, url: str | URL) -> str:
    """Return one line that says what went wrong with the database at ``url``."""
    where = masked(url)
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    if "database is locked" in text:
        return (
            f"database {where} is locked by another writer (gave up after {SQLITE_BUSY_TIMEOUT_MS // 1000} s)"
        )
    if "unable to open database file" in text:
        return f"cannot open database {where}: unable to open the file (does its folder exist?)"
    if isinstance(exc, OperationalError) and "connection" in text.lower():
        return f"cannot connect to database {where}: {text}"
    return f"database error on {where}: {text}"


@contextmanager
def translate_db_errors(url: str | URL) -> Iterator[None]:
    """Turn SQLAlchemy/DBAPI errors raised inside the block into one-line StoreErrors."""
    try:
        yield
    except (DBAPIError, SQLAlchemyError) as exc:
        raise StoreError(describe_db_error(exc, url)) from exc


# The newest migration this version ships (a test checks it against the migration scripts).
# Checking it needs no Alembic import: that import alone is a third of a report's start-up.
SCHEMA_HEAD = "0003"


def _alembic_config(engine_url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("capacity") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """Return the newest migration revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None when it has no schema yet."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if version is None else str(version)


def upgrade(engine: Engine) -> str:
    """Apply every pending migration; return the revision the database is at afterwards."""
    from alembic import command

    cfg = _alembic_config(str(engine.url))
    with translate_db_errors(engine.url), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    revision = current_revision(engine)
    assert revision is not None
    return revision


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_db_engine(url: str | None = None) -> Engine:
    """Return an engine for ``url`` (see resolve_url) without touching the schema."""
    resolved = resolve_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError:
        raise StoreError(f"not a database URL: {masked(resolved)}") from None
    # orjson: several times faster than json for the label, selector and toleration columns.
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database {masked(parsed)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def open_store(url: str | None = None, *, migrate: bool = True) -> Engine:
    """Return an engine with the schema at head (migrating on first use when ``migrate``)."""
    engine = create_db_engine(url)
    with translate_db_errors(engine.url):
        revision = current_revision(engine)
    if revision != SCHEMA_HEAD:
        if not migrate:
            engine.dispose()
            raise StoreError(
                f"database {masked(engine.url)} is at schema {revision or 'none'}, "
                f"this version needs {SCHEMA_HEAD}: run `capacity db upgrade`"
            )
        upgrade(engine)
    return engine
