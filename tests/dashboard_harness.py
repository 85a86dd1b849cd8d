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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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


# Notes when Streamlit's script state becomes "running" after it is installed: a click's rerun began.
WATCH_RUN = """() => {
    window.__sawRun = false;
    const app = document.querySelector('[data-testid="stApp"]');
    const seen = () => {
        if (app.getAttribute('data-test-script-state') === 'running') window.__sawRun = true;
    };
    window.__runObserver && window.__runObserver.disconnect();
    window.__runObserver = new MutationObserver(seen);
    window.__runObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def open_tabs(page: Any, done: Callable[[Any], None], timeout_ms: int) -> Iterator[tuple[str, float]]:
    """Open each tab of the page's main area that is not open, in order (lazy tabs run when opened).

    For each: click, wait until the rerun it starts is ``done``, yield its label and the seconds
    from the click.
    """
    tabs = page.locator('[data-testid="stMain"] [role="tab"]')
    for number in range(tabs.count()):
        tab = tabs.nth(number)
        if tab.get_attribute("aria-selected") == "true":
            continue
        label = tab.inner_text().strip()
        page.evaluate(WATCH_RUN)
        started = time.perf_counter()
        tab.click()
        page.wait_for_function("() => window.__sawRun", timeout=timeout_ms, polling=20)
        done(page)
        yield label, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DashboardServer:
    """``capacity dashboard`` over ``db`` on a free loopback port, in a session of its own."""

    def __init__(
        self,
        db: Path,
        log: Path,
        *,
        start_seconds: float = 90.0,
        streamlit_flags: Sequence[str] | None = None,
    ) -> None:
        """With ``streamlit_flags``: a bare ``streamlit run dashboard/app.py FLAGS`` instead."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        env.pop("CAPACITY_DATABASE_URL", None)
        env.pop("CAPACITY_CONFIG", None)
        if streamlit_flags is None:
            exe = Path(sys.executable).with_name("capacity")
            command = [str(exe)] if exe.exists() else [sys.executable, "-m", "capacity.cli"]
            command += ["--db", str(db), "dashboard", "--port", str(self.port), "--address", "127.0.0.1"]
        else:
            env["CAPACITY_DATABASE_URL"] = f"sqlite:///{db}"
            command = [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", *streamlit_flags,
            ]  # fmt: skip
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
