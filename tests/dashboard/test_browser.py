"""Every dashboard page in a real headless Chromium, served by ``capacity dashboard`` over a demo fleet.

Needs Debian's ``chromium`` (/usr/bin/chromium; .ci/run installs it) and Playwright for Python
(a dev dependency, which drives that browser: Playwright's own browser download is never used).
Screenshots land in ``test-artifacts/screenshots/<page>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Fleet
from tests.dashboard_harness import CHROMIUM, CHROMIUM_ARGS, DashboardServer, open_tabs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Pages that must draw at least one chart over a demo fleet; every other page is opened too.
PAGES_WITH_CHARTS = {"overview", "teams", "capacity", "health"}  # savings is tables only
REQUIRED_PAGES = {"capacity", "health"}
SERVER_START_SECONDS = 90
PAGE_SECONDS = 90
VIEWPORT = {"width": 1440, "height": 1000}


@pytest.fixture(scope="module")
def demo_db(simulated_fleet: Fleet) -> Path:
    return Path(
        simulated_fleet(days=1, seed=2, now=datetime(2026, 11, 1, 12, tzinfo=UTC)).removeprefix("sqlite:///")
    )


@pytest.fixture(scope="module")
def dashboard(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return the base URL of ``capacity dashboard`` running over the demo database."""
    log = tmp_path_factory.mktemp("dashboard-log") / "dashboard.log"
    try:
        server = DashboardServer(demo_db, log, start_seconds=SERVER_START_SECONDS)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.base
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Return a Playwright browser context on Debian's Chromium (never Playwright's own download)."""
    if os.environ.get("CAPACITY_SKIP_BROWSER") == "1":
        pytest.skip("CAPACITY_SKIP_BROWSER=1: browser tests disabled")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (or set CAPACITY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


def _wait_for_run(page: Any) -> None:
    """Wait until Streamlit has connected, run the page's script, and finished drawing."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=PAGE_SECONDS * 1000
    )
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && document.querySelector('[data-testid="stMain"]') !== null;
        }""",
        timeout=PAGE_SECONDS * 1000,
    )
    # Charts load lazily (a skeleton first): wait until every chart element holds a drawn
    # plotly SVG. A figure that failed to draw never gets one.
    page.wait_for_function(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            if (!main || main.querySelector('[data-testid="stSkeleton"]')) return false;
            const charts = Array.from(main.querySelectorAll('[data-testid="stBidiComponentRegular"]'));
            return charts.every(chart => chart.querySelector('.capacity-chart .main-svg') !== null);
        }""",
        timeout=PAGE_SECONDS * 1000,
    )


def _screenshot(page: Any, path: Path) -> None:
    """Save the whole page: Streamlit scrolls inside its own container, so grow the viewport to it."""
    height = page.evaluate(
        """() => {
            const block = document.querySelector('[data-testid="stMainBlockContainer"]');
            return block ? Math.ceil(block.getBoundingClientRect().height) + 200 : 1000;
        }"""
    )
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(int(height), 12000))}
    )
    page.wait_for_timeout(500)  # let plotly re-layout to the new size
    page.screenshot(path=str(path), full_page=True)


def _pages(context: Any, base: str) -> dict[str, str]:
    """Return {name: url path} of the pages ``st.navigation`` offers in the sidebar.

    The default page's link is the root (path ""); it is named after its label.
    """
    page = context.new_page()
    try:
        page.goto(base, wait_until="domcontentloaded")
        _wait_for_run(page)
        page.wait_for_selector('[data-testid="stSidebarNavLink"]', timeout=PAGE_SECONDS * 1000)
        links = page.eval_on_selector_all(
            '[data-testid="stSidebarNavLink"]',
            "links => links.map(a => [a.href, a.innerText])",
        )
    finally:
        page.close()
    pages: dict[str, str] = {}
    for href, label in links:
        path = str(href).split("?")[0][len(base) :].strip("/")
        title = str(label).strip().splitlines()[-1] if str(label).strip() else ""  # icon, then title
        name = path or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "default"
        pages.setdefault(name, path)
    return pages


def test_every_page_renders_without_errors(dashboard: str, browser: Any) -> None:
    pages = _pages(browser, dashboard)
    assert set(pages) >= REQUIRED_PAGES, pages
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, str] = {}
    tabbed: set[str] = set()
    for name, path in pages.items():
        page = browser.new_page()
        console_errors: list[str] = []
        page.on("pageerror", lambda exc, errors=console_errors: errors.append(str(exc)))
        try:
            page.goto(f"{dashboard}/{path}", wait_until="domcontentloaded")
            _wait_for_run(page)
            _screenshot(page, SCREENSHOTS / f"{name}.png")
            problem = _problem(page, console_errors, needs_chart=name in PAGES_WITH_CHARTS)
            if problem:
                problems[name] = problem
            # Lazy tabs (Capacity) run only when opened: open each one and check it the same way.
            for label, _ in open_tabs(page, _wait_for_run, PAGE_SECONDS * 1000):
                opened = f"{name}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}"
                _screenshot(page, SCREENSHOTS / f"{opened}.png")
                problem = _problem(page, console_errors, needs_chart=False)
                if problem:
                    problems[opened] = problem
                tabbed.add(opened)
        finally:
            page.close()
    assert not problems, problems
    assert {p.stem for p in SCREENSHOTS.glob("*.png")} >= set(pages) | tabbed
    assert {"capacity-node-packing", "capacity-forecast"} <= tabbed


def _problem(page: Any, console_errors: list[str], *, needs_chart: bool) -> str | None:
    """Return what is wrong on the page as shown: an exception, a traceback, an error box, ..."""
    exceptions = page.locator('[data-testid="stException"]')
    text = page.locator('[data-testid="stMain"]').inner_text()
    charts = page.locator(".capacity-chart .main-svg").count()
    if exceptions.count():
        return str(exceptions.first.inner_text())[:2000]
    if "Traceback" in text:
        return "a traceback is shown on the page"
    if page.locator('[data-testid="stAlertContentError"]').count():
        return str(page.locator('[data-testid="stAlertContentError"]').first.inner_text())
    if needs_chart and charts == 0:
        return "no chart was drawn"
    if console_errors:
        return "JavaScript error: " + "; ".join(console_errors)[:2000]
    return None


def test_charts_say_why_when_plotly_js_is_not_served(demo_db: Path, browser: Any, tmp_path: Path) -> None:
    """A bare ``streamlit run`` without static serving: each chart says so, rather than staying blank."""
    server = DashboardServer(
        demo_db,
        tmp_path / "bare.log",
        start_seconds=SERVER_START_SECONDS,
        streamlit_flags=["--server.enableStaticServing", "false"],
    )
    page = browser.new_page()
    try:
        page.goto(server.base, wait_until="domcontentloaded")
        page.wait_for_selector(".capacity-chart:has-text('Chart not drawn')", timeout=PAGE_SECONDS * 1000)
        message = page.locator(".capacity-chart", has_text="Chart not drawn").first.inner_text()
        assert "is not plotly.js" in message and "capacity dashboard" in message
        assert page.locator(".capacity-chart .main-svg").count() == 0
    finally:
        page.close()
        server.stop()


def test_charts_follow_a_theme_switch(dashboard: str, browser: Any) -> None:
    """The OS switching to dark: the same charts stay drawn, in the page's new text colour."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.emulate_media(color_scheme="light")
        page.goto(f"{dashboard}/capacity", wait_until="domcontentloaded")
        _wait_for_run(page)
        drawn = page.locator(".capacity-chart .main-svg").count()
        colour = "() => getComputedStyle(document.querySelector('.capacity-chart .gtitle')).fill"
        light = page.evaluate(colour)
        page.emulate_media(color_scheme="dark")
        page.wait_for_function(f"light => ({colour})() !== light", arg=light, timeout=PAGE_SECONDS * 1000)
        assert page.locator(".capacity-chart .main-svg").count() == drawn > 0
        assert not errors, errors
    finally:
        page.close()
