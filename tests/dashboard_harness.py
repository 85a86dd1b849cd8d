"""A running ``capacity dashboard`` and the Chromium it is opened in, for the browser test and
``benchmarks/dashboard_speed.py`` alike."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CAPACITY_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium, headless on a machine whose network is closed: without the
# background-networking flags it keeps dialling Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DashboardServer:
    """``capacity dashboard`` over ``db`` on a free loopback port, in a session of its own."""

    def __init__(self, db: Path, log: Path, *, start_seconds: float = 90.0) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        exe = Path(sys.executable).with_name("capacity")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "capacity.cli"]
        command += ["--db", str(db), "dashboard", "--port", str(self.port), "--address", "127.0.0.1"]
        env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        env.pop("CAPACITY_DATABASE_URL", None)
        env.pop("CAPACITY_CONFIG", None)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        started = time.perf_counter()
        try:
            self._wait_healthy(start_seconds)
        except RuntimeError:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started

    def _wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"capacity dashboard exited with {self.proc.returncode}:\n{self.tail()}")
            if self._healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"dashboard not healthy after {seconds:g} s:\n{self.tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as response:
                return bool(response.status == 200 and response.read().strip() == b"ok")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False  # not listening or not answering yet: ask again shortly

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            return  # already gone
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
