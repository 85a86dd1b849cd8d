"""``capacity dashboard`` execs ``python -m dashboard.serve``: the heavy imports happen before the
server listens, then the process becomes ``streamlit run dashboard/app.py`` itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from capacity.cli import main
from capacity.store.engine import open_store
from dashboard import serve
from tests.dashboard_harness import DashboardServer

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--server.port", "8600", "--server.address", "127.0.0.1"]

# Run in a fresh interpreter (this one has imported everything already): preload, then import
# what Streamlit itself loads to serve, then every module the app's first script run imports.
_FIRST_RUN_IMPORTS = """
import importlib, json, pkgutil, sys
from dashboard import serve
failed = serve.preload()
preloaded = sorted(sys.modules)
import streamlit.web.bootstrap, streamlit.web.cli
before = set(sys.modules)
import dashboard.views
first_run = ["capacity.errors", "dashboard.data", "dashboard.filters"]
first_run += [f"dashboard.views.{m.name}" for m in pkgutil.iter_modules(dashboard.views.__path__)]
for name in first_run:
    importlib.import_module(name)
print(json.dumps({"failed": failed, "preloaded": preloaded, "first_run": sorted(set(sys.modules) - before)}))
"""


def _first_run_imports() -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_RUN_IMPORTS], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(done.stdout), done.stderr


def test_preload_leaves_the_first_script_run_only_the_dashboards_thin_modules() -> None:
    result, _ = _first_run_imports()
    assert result["failed"] == []
    for heavy in (
        "pandas",
        "plotly.graph_objects",
        "sqlalchemy",
        "capacity.reports",
        "capacity.store.inventory",
    ):
        assert heavy in result["preloaded"], heavy
    # Anything else the first run imports (pandas, SQLAlchemy, capacity.*) belongs in PRELOAD.
    outside = [m for m in result["first_run"] if m != "dashboard" and not m.startswith("dashboard.")]
    assert outside == []
    assert "dashboard.data" in result["first_run"]


def test_preload_neither_runs_the_app_nor_declares_streamlit_caches() -> None:
    """Nothing that needs Streamlit's runtime: no app, no page, no st.cache_* declared."""
    code = (
        "import json, sys\nfrom dashboard import serve\nserve.preload()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('dashboard'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = set(json.loads(done.stdout))
    assert loaded == {
        "dashboard",
        "dashboard.serve",
        "dashboard.figures",
        "dashboard.summary",
        "dashboard.numbers",  # through capacity_figures
        "dashboard.capacity_figures",
        "dashboard.charts",  # a component, declared again on the running server when drawn
    }
    assert "No runtime found" not in done.stderr  # what declaring an st.cache_data function logs
    assert done.stderr == ""


def test_warm_plotly_leaves_the_pages_figures_nothing_to_import() -> None:
    """After preload and warm_plotly, building the Overview's and Teams' figures imports no module."""
    code = """
import json, sys
from dashboard import serve
serve.preload()
serve.warm_plotly()
import pandas as pd
from dashboard import figures
before = set(sys.modules)
daily = pd.DataFrame({"period_start": ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"], "team": ["a", "b"],
                      "total_cost": [1.0, 2.0], "cluster": ["c", "c"]})
figures.cost_over_time(daily, key="team", top=8, currency="USD", title="t").to_json()
figures.cost_bars(daily, key="team", currency="USD", title="t").to_json()
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(done.stdout) == []


def test_a_module_that_fails_to_preload_is_reported_not_fatal() -> None:
    assert serve.preload(("json", "capacity.no_such_module")) == [
        "capacity.no_such_module: ModuleNotFoundError: No module named 'capacity.no_such_module'"
    ]


def test_serve_preloads_then_runs_streamlit_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(serve, "preload", lambda: calls.append("preload") or [])
    monkeypatch.setattr(serve, "quiet_direct_run_check", lambda: calls.append("quiet"))
    monkeypatch.setattr(serve.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(sys, "argv", ["dashboard/serve.py", *FLAGS])
    monkeypatch.setattr("streamlit.web.cli.main", lambda **kw: calls.append((list(sys.argv), kw)))
    serve.main()
    app = str(ROOT / "dashboard" / "app.py")
    run = (
        ["streamlit", "run", app, "--server.enableStaticServing", "true", *FLAGS],
        {"prog_name": "streamlit"},
    )
    assert calls == ["preload", "quiet", "freeze", run]  # frozen last: all that was imported
    assert serve.streamlit_argv(["--x", "1"]) == [
        "streamlit", "run", app, "--server.enableStaticServing", "true", "--x", "1"
    ]  # fmt: skip


def test_the_direct_run_check_is_skipped_in_the_installed_streamlit() -> None:
    """The flag exists in this Streamlit (an upgrade that renames it fails here), and is set."""
    code = (
        "from streamlit import delta_generator as d\nfrom dashboard import serve\n"
        "before = d._use_warning_has_been_displayed\nserve.quiet_direct_run_check()\n"
        "print(before, d._use_warning_has_been_displayed)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "True"]


class Exec(Exception):
    """Raised by the stand-in for os.execve: carries the command the CLI would have run."""


def test_dashboard_command_execs_the_preloading_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "capacity.yaml"
    config.write_text("pricing:\n  currency: EUR\n")
    db = tmp_path / "c.db"
    open_store(f"sqlite:///{db}").dispose()  # the dashboard never creates a missing file

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        raise Exec(path, argv, env)

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.chdir(tmp_path)
    argv = [
        "--db",
        str(db),
        "--config",
        "capacity.yaml",
        "dashboard",
        "--port",
        "8600",
        "--address",
        "127.0.0.1",
    ]
    with pytest.raises(Exec) as raised:
        main(argv)
    path, command, env = raised.value.args
    assert path == sys.executable
    assert command == [
        sys.executable, "-m", "dashboard.serve", *FLAGS,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    assert env["CAPACITY_DATABASE_URL"] == f"sqlite:///{db}"
    assert env["CAPACITY_CONFIG"] == str(config)
    assert db.exists()  # opened before the exec, so errors are one line


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps")
def test_server_is_one_process_preloaded_before_any_page_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    open_store(f"sqlite:///{db}").dispose()
    server = DashboardServer(db, tmp_path / "dashboard.log")
    try:
        pid = server.proc.pid
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert command[1:3] == [b"-m", b"dashboard.serve"], command  # capacity exec'd, no parent left
        assert _children(pid) == []
        # Healthy, no page requested yet, and pandas' and SQLAlchemy's compiled modules are loaded.
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "/pandas/_libs/" in maps and "/sqlalchemy/" in maps
        os.kill(pid, signal.SIGTERM)  # the process alone, not its group
        assert server.proc.wait(timeout=20) == 0
    finally:
        server.stop()
