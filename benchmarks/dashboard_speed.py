"""Benchmark: dashboard page speed in a real browser over the report-scale database.

Builds the database of ``benchmarks/report_scale.py`` (3 clusters, 1,500 nodes, ~45,000 pods,
30 days at 15 minutes; its own ``generate``), then for each dashboard page:

  - starts a fresh ``capacity dashboard`` process (cold Streamlit caches; the OS file cache of the
    database stays warm) and opens the page in a fresh Chromium context (empty HTTP cache);
  - first render: from ``page.goto`` until Streamlit is connected, its script state is
    ``notRunning``, no skeleton is left and every plotly chart holds a drawn SVG (the same
    condition as ``tests/dashboard/test_browser.py``);
  - filter change: clicks the sidebar Window segmented control (7d, the default, to 30d, a window
    not cached yet) and times from the click until a rerun has started and finished and every
    chart is drawn again;
  - tab open (pages with tabs, such as Capacity): clicks each tab that is not open, in order, and
    times each the same way (the first open of a tab: its reads are not cached yet).

Each page is measured ``--repeat`` times (a fresh server and browser context every time) and
the median is judged, with the fastest and slowest shown: a shared 2-core machine varies by
half a second from one render to the next.

Prints a table with PASS/FAIL against the requirement: first render under 3 s, filter change
under 1 s (and opening a tab, an interaction like a filter change, under 1 s). A script that
prints figures, never a timed test.

Usage: .venv/bin/python benchmarks/dashboard_speed.py [--workdir DIR] [--db EXISTING.db]
           [--filter-window 30d] [--pages overview,teams,...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from dashboard_harness import CHROMIUM, CHROMIUM_ARGS, WATCH_RUN, DashboardServer, open_tabs  # noqa: E402  (the browser test's harness)

VIEWPORT = {"width": 1440, "height": 1000}
DEFAULT_PAGE = "overview"
PAGES = ("overview", "teams", "savings", "capacity", "health", "clusters")
FIRST_RENDER_LIMIT = 3.0
FILTER_LIMIT = 1.0
SERVER_START_SECONDS = 120
PAGE_SECONDS = 300

_DONE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
    if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main || main.querySelector('[data-testid="stSkeleton"]')) return false;
    const charts = Array.from(main.querySelectorAll('[data-testid="stBidiComponentRegular"]'));
    return charts.every(chart => chart.querySelector('.capacity-chart .main-svg') !== null);
}"""


def _report_scale() -> ModuleType:
    """Import benchmarks/report_scale.py (not a package) for its database builder."""
    sys.path[:0] = [str(REPO)]
    spec = importlib.util.spec_from_file_location("report_scale", REPO / "benchmarks" / "report_scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_db(path: Path) -> dict[str, Any]:
    rs = _report_scale()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    args = argparse.Namespace(clusters=3, nodes=500, pods=15_000, days=30, fanout=1)
    return dict(rs.generate(f"sqlite:///{path}", args))


def _problem(page: Any) -> str | None:
    if page.locator('[data-testid="stException"]').count():
        return "exception: " + page.locator('[data-testid="stException"]').first.inner_text()[:300]
    if page.locator('[data-testid="stAlertContentError"]').count():
        return "error: " + page.locator('[data-testid="stAlertContentError"]').first.inner_text()[:300]
    return None


def measure_page(browser: Any, base: str, name: str, window: str) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        started = time.perf_counter()
        path = "" if name == DEFAULT_PAGE else name  # the default page is served at the root
        page.goto(f"{base}/{path}", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stApp"]', timeout=PAGE_SECONDS * 1000)
        page.wait_for_function(_DONE, timeout=PAGE_SECONDS * 1000, polling=20)
        first = time.perf_counter() - started
        charts = page.locator(".capacity-chart .main-svg").count()
        problem = _problem(page)

        button = page.locator(
            '[data-testid="stSidebar"] [data-testid="stButtonGroup"] button', has_text=window
        )
        button.first.wait_for(timeout=PAGE_SECONDS * 1000)
        page.evaluate(WATCH_RUN)
        started = time.perf_counter()
        button.first.click()
        page.wait_for_function(
            f"() => window.__sawRun && ({_DONE})()", timeout=PAGE_SECONDS * 1000, polling=20
        )
        change = time.perf_counter() - started
        url = page.url
        problem = problem or _problem(page)
        charts_after = page.locator(".capacity-chart .main-svg").count()
        tabs = dict(
            open_tabs(
                page,
                lambda p: p.wait_for_function(_DONE, timeout=PAGE_SECONDS * 1000, polling=20),
                PAGE_SECONDS * 1000,
            )
        )
        problem = problem or _problem(page)
    finally:
        context.close()
    if errors:
        problem = (problem or "") + " JS: " + "; ".join(errors)[:300]
    return {
        "first": first,
        "change": change,
        "charts": charts,
        "charts_after": charts_after,
        "url": url,
        "problem": problem,
        "tabs": tabs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="keep the database and logs here instead of a temp dir")
    parser.add_argument("--db", type=Path, help="use this existing database instead of building one")
    parser.add_argument("--filter-window", default="30d", help="window clicked for the filter change")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated url paths")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per page (the median is judged)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = args.db or work / "dashboard-speed.db"
        if args.db is None:
            started = time.perf_counter()
            gen = build_db(db)
            shape = gen["shape"]
            print(
                f"database: {shape['nodes']:,} nodes, {shape['pods']:,} pods, {shape['workloads']:,} workloads "
                f"across 3 clusters, 30.5 days at 15 min; built in {time.perf_counter() - started:.0f} s, "
                f"{db.stat().st_size / 1e6:.0f} MB"
            )
        results: dict[str, list[dict[str, Any]]] = {}
        startups: list[float] = []
        load = [os.getloadavg()[0]]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for _ in range(max(args.repeat, 1)):
                    for name in args.pages.split(","):
                        try:  # cold: a fresh process per page
                            server = DashboardServer(
                                db, work / f"dashboard-{name}.log", start_seconds=SERVER_START_SECONDS
                            )
                        except RuntimeError as exc:
                            raise SystemExit(str(exc)) from None
                        startups.append(server.startup_seconds)
                        try:
                            measured = measure_page(browser, server.base, name, args.filter_window)
                            results.setdefault(name, []).append(measured)
                        finally:
                            server.stop()
            finally:
                browser.close()
        load.append(os.getloadavg()[0])

    print(
        f"first render: fresh `capacity dashboard` process per page (server start {min(startups):.1f}-"
        f"{max(startups):.1f} s, not counted) and fresh browser context, from navigation until Streamlit "
        f"is idle and every plotly chart is drawn"
    )
    print(
        f"filter change: click Window {args.filter_window} in the sidebar (from the default 7d), until rerun done"
    )
    print(f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} CPUs")
    print()
    runs = len(next(iter(results.values()), []))
    print(f"median of {runs} per page (fastest-slowest)")
    print(
        f"{'page':10s} {'first render':>22s} {'< 3 s':>6s} {'filter change':>22s} {'< 1 s':>6s} {'charts':>7s}"
    )
    for name, measured in results.items():
        first = sorted(r["first"] for r in measured)
        change = sorted(r["change"] for r in measured)
        mid_first, mid_change = statistics.median(first), statistics.median(change)
        ok1 = "PASS" if mid_first < FIRST_RENDER_LIMIT else "FAIL"
        ok2 = "PASS" if mid_change < FILTER_LIMIT else "FAIL"
        print(
            f"{name:10s} {mid_first:5.2f} s ({first[0]:.2f}-{first[-1]:.2f}) {ok1:>6s} "
            f"{mid_change:5.2f} s ({change[0]:.2f}-{change[-1]:.2f}) {ok2:>6s} "
            f"{measured[0]['charts']:>3d}/{measured[0]['charts_after']:<3d}"
        )
    tabbed = {name: measured for name, measured in results.items() if measured[0]["tabs"]}
    if tabbed:
        print()
        print(
            f"tab open: click a tab not opened yet, until its rerun is done and its charts drawn (< {FILTER_LIMIT:.0f} s)"
        )
        for name, measured in tabbed.items():
            for label in measured[0]["tabs"]:
                times = sorted(r["tabs"][label] for r in measured if label in r["tabs"])
                verdict = "PASS" if statistics.median(times) < FILTER_LIMIT else "FAIL"
                print(
                    f"{name:10s} {label:22s} {statistics.median(times):5.2f} s "
                    f"({times[0]:.2f}-{times[-1]:.2f}) {verdict:>6s}"
                )
    for name, measured in results.items():
        for r in measured:
            if r["problem"]:
                print(f"  {name}: {r['problem']}")
            if f"window={args.filter_window}" not in r["url"]:
                print(
                    f"  {name}: the URL after the change does not hold window={args.filter_window}: {r['url']}"
                )


if __name__ == "__main__":
    main()
