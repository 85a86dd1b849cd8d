"""A throwaway PostgreSQL server for the test suite.

``PostgresServer`` runs ``initdb`` into a fresh temporary directory, starts the server on a free
loopback port with durability switched off (fsync, synchronous_commit, full_page_writes), and on
exit stops it and deletes the directory::

    with PostgresServer() as server:
        server.create_database("test_x")
        engine = create_engine(server.url("test_x"))
        ...
        server.drop_database("test_x")

The server binaries are taken from ``$CAPACITY_PG_BINDIR`` if set, else from ``PATH`` (symlinks are
followed, so ``/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb`` works), else from the
newest ``/usr/lib/postgresql/<version>/bin``.  On Debian/Ubuntu they come from the ``postgresql``
package, which also creates the ``postgres`` system user.

``initdb`` refuses to run as root, so when the tests run as root the server runs as the system user
``postgres`` through ``runuser -u postgres --``; otherwise it runs as the current user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir"]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    # Bound WAL growth (default max_wal_size is 1GB): the cluster may live in RAM (/dev/shm).
    "max_wal_size=128MB",
    "min_wal_size=32MB",
)
# A RAM-backed parent dir makes CREATE DATABASE ~15x faster (~15ms instead of ~250ms on a VM disk).
RAM_DIR = "/dev/shm"
RAM_DIR_MIN_FREE = 512 * 1024 * 1024
_DBNAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PORT_IN_USE_MARKERS = ("could not bind", "address already in use", "could not create any tcp/ip sockets")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found or started."""


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name  # /usr/lib/postgresql/<version>/bin
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (-1,)


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in REQUIRED_BINARIES)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    override = os.environ.get("CAPACITY_PG_BINDIR")
    if override:
        if not _has_binaries(Path(override)):
            raise PostgresUnavailable(
                f"CAPACITY_PG_BINDIR={override} does not contain all of {', '.join(REQUIRED_BINARIES)}"
            )
        return Path(override)

    on_path = shutil.which("initdb")
    if on_path:
        bindir = Path(os.path.realpath(on_path)).parent
        if _has_binaries(bindir):
            return bindir

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_binaries(Path(candidate)):
            return Path(candidate)

    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install postgresql`), "
        "point CAPACITY_PG_BINDIR at their directory, or set CAPACITY_SKIP_POSTGRES=1 to skip "
        "the PostgreSQL-backed tests."
    )


def _parent_dir(as_other_user: bool) -> str | None:
    """Where to create the cluster's temp dir: $CAPACITY_PG_TMPDIR, else /dev/shm if it is a roomy
    tmpfs, else /tmp (world-traversable, needed when the server runs as another user)."""
    override = os.environ.get("CAPACITY_PG_TMPDIR")
    if override:
        return override
    fallback = "/tmp" if as_other_user else None
    try:
        st = os.statvfs(RAM_DIR)
        mode = os.stat(RAM_DIR).st_mode
    except OSError:  # no /dev/shm here
        return fallback
    roomy = st.f_bavail * st.f_frsize >= RAM_DIR_MIN_FREE
    usable = os.access(RAM_DIR, os.W_OK | os.X_OK) and (not as_other_user or mode & 0o001)
    return RAM_DIR if roomy and usable else fallback


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


class PostgresServer:
    """A private PostgreSQL cluster living in a temporary directory; use as a context manager."""

    def __init__(self, *, start_attempts: int = 5, start_timeout: int = 60) -> None:
        self.start_attempts = start_attempts
        self.start_timeout = start_timeout
        self.host = HOST
        self.port: int | None = None
        self.bindir: Path | None = None
        self.base_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._prefix: list[str] = []
        self._owner: tuple[int, int] | None = None
        self._running = False

    # -- paths ---------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "sock"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.bindir = find_bindir()
        self._prefix, self._owner = self._run_as()
        parent = _parent_dir(as_other_user=self._owner is not None)
        self.base_dir = Path(tempfile.mkdtemp(prefix="capacity-pg-", dir=parent))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            if self._owner is not None:
                for path in (self.base_dir, self.socket_dir):
                    os.chown(path, *self._owner)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.base_dir is None:
            return
        try:
            if self._running or (self.data_dir / "postmaster.pid").exists():
                self._pg_ctl("-m", "immediate", "stop", check=False)
        finally:
            self._running = False
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            atexit.unregister(self.stop)

    def halt(self) -> None:
        """Stop the server but keep its data (``resume`` starts it again on the same port)."""
        self._require_running()
        self._pg_ctl("-m", "fast", "-w", "stop")
        self._running = False

    def resume(self) -> None:
        """Start a halted server again, on the port it had."""
        assert self.port is not None and not self._running
        options = " ".join(
            [f"-p {self.port}", f"-h {self.host}", f"-k {self.socket_dir}"]
            + [f"-c {setting}" for setting in SERVER_SETTINGS]
        )
        self._pg_ctl("-o", options, "-l", str(self.log_path), "-w", "-t", str(self.start_timeout), "start")
        self._running = True

    # -- databases -----------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname`` on this server (psycopg 3 driver)."""
        self._require_running()
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        with self._admin_connection() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self._check_name(name))))

    def drop_database(self, name: str) -> None:
        """Drop ``name``, terminating any connections still open to it."""
        with self._admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self._check_name(name))
                )
            )

    # -- internals -----------------------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._running:
            raise PostgresUnavailable("PostgresServer is not running (use it as a context manager)")

    @staticmethod
    def _check_name(name: str) -> str:
        if not _DBNAME_RE.match(name):
            raise ValueError(f"unsafe database name {name!r}: use [a-z_][a-z0-9_]*, at most 63 chars")
        return name

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        self._require_running()
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    @staticmethod
    def _run_as() -> tuple[list[str], tuple[int, int] | None]:
        """Command prefix and (uid, gid) to run the server as; no prefix unless we are root."""
        if os.geteuid() != 0:
            return [], None
        try:
            entry = pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, but initdb refuses root and there is no {SERVER_OS_USER!r} system "
                f"user to run the server as. Install Debian's `postgresql` package (it creates the "
                f"user) or run `useradd --system {SERVER_OS_USER}`."
            ) from None
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
        )
        if runuser is None:
            raise PostgresUnavailable("running as root but `runuser` (util-linux) was not found")
        return [runuser, "-u", SERVER_OS_USER, "--"], (entry.pw_uid, entry.pw_gid)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.base_dir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            [*self._prefix, *argv],
            cwd=self.base_dir,  # the server user must be able to stat its cwd
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailable(
                f"`{' '.join(argv)}` failed with exit code {proc.returncode}\n"
                f"stdout:\n{proc.stdout.strip()}\nstderr:\n{proc.stderr.strip()}"
            )
        return proc

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        return self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args, check=check)

    def _initdb(self) -> None:
        assert self.bindir is not None
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )

    def _start_server(self) -> None:
        last_error = ""
        for _ in range(self.start_attempts):
            port = _free_port()
            self.log_path.unlink(missing_ok=True)  # so the tail below is about this attempt only
            options = " ".join(
                [f"-p {port}", f"-h {self.host}", f"-k {self.socket_dir}"]
                + [f"-c {setting}" for setting in SERVER_SETTINGS]
            )
            proc = self._pg_ctl(
                "-o", options, "-l", str(self.log_path), "-w", "-t", str(self.start_timeout), "start",
                check=False,
            )  # fmt: skip
            if proc.returncode == 0:
                self.port = port
                self._running = True
                return
            log_tail = _tail(self.log_path)
            last_error = (
                f"pg_ctl start (port {port}) failed with exit code {proc.returncode}\n"
                f"pg_ctl output:\n{(proc.stdout + proc.stderr).strip()}\n"
                f"server log ({self.log_path}) tail:\n{log_tail}"
            )
            # A server that timed out may still be coming up; make sure it is gone before retrying.
            with contextlib.suppress(Exception):
                self._pg_ctl("-m", "immediate", "stop", check=False)
            if not any(marker in log_tail.lower() for marker in _PORT_IN_USE_MARKERS):
                break
        raise PostgresUnavailable(f"could not start PostgreSQL: {last_error}")
