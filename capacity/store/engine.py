"""Opening the database: URL resolution, SQLite pragmas, migrations on first use, error translation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from capacity.errors import DatabaseMissing, StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ENV_DATABASE_URL = "CAPACITY_DATABASE_URL"
DEFAULT_URL = "sqlite:///capacity.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SCHEME_TYPO = re.compile(r"^[A-Za-z][A-Za-z0-9+.\- ]*:/")  # postgresql:/..., "postgres ql://..."
_USERINFO = re.compile(r"(?P<user>[^/:@\s]*:)[^@/\s]*@")
_SECRET_PARAM = re.compile(
    r"(?i)(?P<key>[?&;](?:password|passwd|pwd|sslpassword|secret|token|access_token|api_key)=)[^&;#\s]*"
)


def resolve_url(url: str | None) -> str:
    """Return the database URL: the argument, ``$CAPACITY_DATABASE_URL``, or ``capacity.db`` here.

    A bare filesystem path is taken as a SQLite file; something that looks like a mistyped
    URL (``postgresql:/host/db``) is an error rather than a file of that name.
    """
    chosen = url or os.environ.get(ENV_DATABASE_URL) or DEFAULT_URL
    if not _SCHEME.match(chosen):
        if _SCHEME_TYPO.match(chosen) and not re.match(r"^[A-Za-z]:[\\/]", chosen):
            raise StoreError(f"not a database URL: {masked(chosen)} (expected e.g. postgresql://host/db)")
        chosen = f"sqlite:///{chosen}"
    if chosen.startswith("postgresql://") or chosen.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def masked(url: str | URL) -> str:
    """Return the URL with every password replaced by ***: in its user part, in its query, and in
    text that only looks like a URL (a typo must not print the password it carries)."""
    if isinstance(url, URL):
        text = url.render_as_string(hide_password=True)
    else:
        text = str(url)
        with suppress(ArgumentError, ValueError):
            text = make_url(text).render_as_string(hide_password=True)
    text = _SECRET_PARAM.sub(lambda m: m["key"] + "***", text)
    return _USERINFO.sub(lambda m: m["user"] + "***@", text)


# Execution option of a connection whose transactions write (see write_transaction).
WRITE_OPTION = "capacity_write"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own BEGIN comes before the first write, not at the transaction's start, so
    # the reads before it run outside any transaction; we issue BEGIN ourselves (_sqlite_begin).
    dbapi_connection.isolation_level = None
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


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes SQLite's write lock when its transaction starts (waiting up to the busy
    # timeout): what it reads before its first write is then what it writes on, as a row
    # lock gives on PostgreSQL. Readers begin deferred and never wait for writers (WAL).
    immediate = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(target: Engine | Connection) -> Iterator[Connection]:
    """Yield a connection inside a transaction that writes; commit at the end, roll back on error.

    On SQLite the transaction holds the database's write lock from its first statement, so two
    writers (two collectors, a collector and a compaction) never act on the same stale read.
    A Connection is marked as a writer for good; one already in a transaction is used as is.
    """
    if isinstance(target, Engine):
        with target.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
    elif target.in_transaction():
        yield target  # the caller owns the transaction
    else:
        target.execution_options(**{WRITE_OPTION: True})
        with target.begin():
            yield target


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
        return f"cannot open database {where}: {_why_unopenable(url)}"
    if "readonly database" in text:
        return f"database {where} is read-only: nothing written (check the file's permissions and filesystem)"
    if "disk is full" in text or "No space left" in text:
        return f"database {where}: the disk is full; this write was rolled back, nothing half-written"
    if "file is not a database" in text or "malformed" in text:
        return f"database {where} is not a SQLite database or is corrupt ({text})"
    if isinstance(exc, OperationalError) and ("connection" in text.lower() or "server" in text.lower()):
        return f"cannot connect to database {where}: {masked(text)}"
    return f"database error on {where}: {masked(text)}"


def _why_unopenable(url: str | URL) -> str:
    try:
        database = (make_url(url) if isinstance(url, str) else url).database
    except (ArgumentError, ValueError):
        database = None
    if not database:
        return "unable to open the file"
    path = Path(database).expanduser().absolute()
    folder = path.parent
    if not folder.is_dir():
        return f"its folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        # WAL mode writes -wal and -shm files beside the database, even to read it.
        return f"its folder {folder} is not writable (read-only filesystem or permissions)"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "the file is not readable and writable by this user"
    return "unable to open the file"


@contextmanager
def translate_db_errors(url: str | URL) -> Iterator[None]:
    """Turn SQLAlchemy/DBAPI errors raised inside the block into one-line StoreErrors."""
    try:
        yield
    except (DBAPIError, SQLAlchemyError) as exc:
        raise StoreError(describe_db_error(exc, url)) from exc


# The newest migration this version ships (a test checks it against the migration scripts).
# Checking it needs no Alembic import: that import alone is a third of a report's start-up.
SCHEMA_HEAD = "0008"


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


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None when it has no schema yet."""
    with engine.connect() as conn:
        return _revision(conn)


# pg_advisory_xact_lock key serializing migrations of one database ("capa" in ASCII)
MIGRATION_LOCK_KEY = 0x63617061


def upgrade(engine: Engine) -> str:
    """Apply every pending migration; return the revision the database is at afterwards.

    Serialized: several collectors starting on an empty database at once must not all create
    the schema. The first takes the lock (an advisory lock on PostgreSQL, the write lock on
    SQLite) and migrates; the others wait for it, then find the schema at head.
    """
    from alembic import command

    cfg = _alembic_config(str(engine.url))
    try:
        with translate_db_errors(engine.url), write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            if _revision(conn) != SCHEMA_HEAD:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    except StoreError:
        # Another process may have migrated in a way the lock did not cover (an older
        # version's migration without it): what counts is where the schema is now.
        if current_revision(engine) != SCHEMA_HEAD:
            raise
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
        parsed.port  # noqa: B018 - a non-numeric port fails here, not at the first connection
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"not a database URL: {masked(resolved)} ({masked(str(exc))})") from None
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
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def open_store(url: str | None = None, *, migrate: bool = True, must_exist: bool = False) -> Engine:
    """Return an engine with the schema at head (migrating on first use when ``migrate``).

    ``must_exist``: a SQLite file that is not there is an error, not a new empty database (a
    reader such as the dashboard must not create one where a path was mistyped).
    """
    engine = create_db_engine(url)
    database = engine.url.database
    sqlite_file = engine.url.get_backend_name() == "sqlite" and database and database != ":memory:"
    if must_exist and sqlite_file and not Path(str(database)).exists():
        engine.dispose()
        raise DatabaseMissing(
            f"database {masked(engine.url)} does not exist: collect into it first "
            "(capacity collect, or capacity demo)"
        )
    try:
        with translate_db_errors(engine.url):
            revision = current_revision(engine)
        if revision != SCHEMA_HEAD:
            if not migrate:
                raise StoreError(
                    f"database {masked(engine.url)} is at schema {revision or 'none'}, "
                    f"this version needs {SCHEMA_HEAD}: run `capacity db upgrade`"
                )
            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
