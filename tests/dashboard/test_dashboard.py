"""The dashboard under Streamlit's AppTest, against real SQLite databases, and its pure figure
and summary builders without Streamlit."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from capacity.analysis.costs import IDLE
from capacity.config import Config
from capacity.reports import ReportRequest, build_report
from capacity.store import inventory
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from capacity.tables import render as render_report
from dashboard import charts, figures, numbers, summary
from dashboard.filters import window_bounds
from dashboard.views import savings as savings_view
from tests import factories as f
from tests.conftest import Fleet

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)


def run_app(url: str, monkeypatch: pytest.MonkeyPatch, page: str | None = None, **params: object) -> AppTest:
    monkeypatch.setenv("CAPACITY_DATABASE_URL", url)
    monkeypatch.delenv("CAPACITY_CONFIG", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update(params)  # type: ignore[arg-type]
    if page is not None:
        app.switch_page(page)  # before the first run: matched by file name (= url_path)
    app.run()
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def link(app: AppTest, name: str) -> list[str]:
    """Return a URL parameter's values (AppTest keeps one value as a str, several as a list)."""
    value = app.query_params.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def amount(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def ok(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def report(url: str, kind: str, start: datetime, end: datetime, **kw: object) -> pd.DataFrame:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return build_report(conn, ReportRequest(kind, start, end, **kw), Config())  # type: ignore[arg-type]
    finally:
        engine.dispose()


# --- empty, unreachable, hand-built databases -------------------------------------------------


def test_empty_database_says_how_to_start(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(sqlite_url).dispose()
    app = run_app(sqlite_url, monkeypatch)
    assert not app.exception
    assert any("No snapshots yet" in i.value for i in app.info)
    assert any("capacity demo" in i.value for i in app.info)


def test_missing_database_file_says_how_to_start_and_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo.db"
    app = run_app(f"sqlite:///{missing}", monkeypatch)
    assert not app.exception
    [info] = app.info
    assert "The database file does not exist yet" in info.value and "typo.db" in info.value
    assert "capacity demo" in info.value
    assert not missing.exists()


def test_unreachable_database_is_an_error_box_with_masked_url(monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app("postgresql://capacity:s3cret@127.0.0.1:1/capacity", monkeypatch)
    assert not app.exception
    [error] = app.error
    assert "127.0.0.1:1" in error.value and "***" in error.value and "s3cret" not in error.value
    assert [b.label for b in app.button] == ["Retry"]


@pytest.fixture
def small_db(sqlite_url: str) -> str:
    """Two clusters, three snapshots 5 minutes apart each: prod (3 workloads) and staging (1)."""
    engine = open_store(sqlite_url)
    with engine.begin() as conn:
        for i in range(3):
            at = f.T0 + timedelta(minutes=5 * i)
            write_snapshot(conn, f.snapshot("prod", at, workloads=3, nodes=2), nominal_interval_seconds=300)
            write_snapshot(
                conn, f.snapshot("staging", at, workloads=1, nodes=1), nominal_interval_seconds=300
            )
    engine.dispose()
    return sqlite_url


def test_clusters_page_shows_the_latest_snapshots(small_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(small_db, monkeypatch, page="views/clusters.py")
    ok(app)
    m = metrics(app)
    assert (m["Clusters"], m["Nodes"], m["Pods"]) == ("2", "3", "8")
    frame = app.dataframe[0].value
    assert list(frame["cluster"]) == ["prod", "staging"]
    assert list(frame["pods"]) == [6, 2]


def test_overview_fleet_cost_is_the_teams_report_total(
    small_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_app(small_db, monkeypatch)
    ok(app)
    start, end = window_bounds(f.T0 + timedelta(minutes=10), "7d")
    teams = report(small_db, "teams", start, end)
    expected = float(teams["total_cost"].sum())
    assert expected > 0
    m = metrics(app)
    assert m["Fleet cost"] == numbers.money(expected)
    # the run rate extrapolates the hours the database holds, not the empty rest of the week
    assert amount(m["Monthly run rate"]) > amount(m["Fleet cost"]) * 730 / (7 * 24)
    assert m["Idle cost"] == numbers.money(float(teams.loc[teams["team"] == IDLE, "total_cost"].sum()))
    assert link(app, "window") == ["7d"]

    # one cluster: less cost, and the URL says which
    app.multiselect(key="f_clusters").select("staging").run()
    ok(app)
    staging = report(small_db, "teams", start, end, clusters=("staging",))
    assert metrics(app)["Fleet cost"] == numbers.money(float(staging["total_cost"].sum()))
    assert amount(metrics(app)["Fleet cost"]) < expected
    assert link(app, "cluster") == ["staging"]


def test_a_link_reproduces_the_filters(small_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(small_db, monkeypatch, window="1d", cluster="prod", team="checkout")
    ok(app)
    assert app.multiselect(key="f_clusters").value == ["prod"]
    assert app.multiselect(key="f_teams").value == ["checkout"]
    start, end = window_bounds(f.T0 + timedelta(minutes=10), "1d")
    teams = report(small_db, "teams", start, end, clusters=("prod",), teams=("checkout",))
    assert metrics(app)["Fleet cost"] == numbers.money(float(teams["total_cost"].sum()))
    # a cluster named in a stale link that no longer exists is dropped, not an exception
    stale = run_app(small_db, monkeypatch, cluster=["gone", "staging"])
    ok(stale)
    assert stale.multiselect(key="f_clusters").value == ["staging"]


# --- the simulated fleet ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet_url(simulated_fleet: Fleet) -> str:
    """Two days of the simulated fleet, hourly, written through the collector path."""
    return simulated_fleet(days=2, seed=2, now=NOW)


@pytest.fixture(scope="module")
def fleet_window(fleet_url: str) -> tuple[datetime, datetime]:
    engine = open_store(fleet_url)
    from capacity.store.status import cluster_status

    with engine.connect() as conn:
        latest = max(s.latest_snapshot for s in cluster_status(conn))
    engine.dispose()
    return window_bounds(latest, "7d")


def test_overview_on_the_fleet(
    fleet_url: str, fleet_window: tuple[datetime, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_app(fleet_url, monkeypatch)
    ok(app)
    m = metrics(app)
    start, end = fleet_window
    recs = report(fleet_url, "recommendations", start, end)
    assert m["Achievable savings / month"] == numbers.money(float(recs["monthly_savings"].sum()))
    for label in ("CPU efficiency", "Memory efficiency"):
        assert m[label].endswith(" %") and 0 < float(m[label][:-2]) < 100
    util, alloc = (float(v.strip()[:-1]) for v in m["CPU utilization / allocation"].split("/"))
    assert 0 < util < alloc < 100  # the fleet requests more than it uses
    # the cost split: compute, volumes, load balancers, shared and fees, plus idle, is the fleet cost
    teams = report(fleet_url, "teams", start, end)
    split = {"Compute": ["cpu_cost", "memory_cost", "gpu_cost"], "Storage": ["storage_cost"],
             "Load balancers": ["network_cost"], "Shared and fees": ["shared_cost"]}  # fmt: skip
    for label, columns in split.items():
        assert m[label] == numbers.money(float(teams[columns].to_numpy().sum())), label
    assert amount(m["Storage"]) > 0 and amount(m["Load balancers"]) > 0
    parts = sum(amount(m[label]) for label in split) + amount(m["Idle cost"])
    assert parts == pytest.approx(amount(m["Fleet cost"]), abs=0.05)
    assert len(app.get("bidi_component")) == 3
    # the "Loading…" charts of the first render are all replaced by the real ones
    specs = [json.dumps(charts.sent_figure(chart.proto)) for chart in app.get("bidi_component")]
    assert all(chart.proto.component_name == "capacity_chart" for chart in app.get("bidi_component"))
    assert all("Cost per day" in s or "allocatable" in s for s in specs), specs[0][:200]
    assert not any("Loading" in s for s in specs)
    # no table here (the Teams page has it): a link to it, and no table component to load
    assert not app.dataframe
    (teams_link,) = app.get("page_link")
    assert "Teams page" in teams_link.proto.label and teams_link.proto.page.endswith("teams")
    assert all(metric.help for metric in app.metric)
    cost = amount(m["Fleet cost"])
    app.multiselect(key="f_clusters").select("staging-us-central1").run()
    ok(app)
    assert 0 < amount(metrics(app)["Fleet cost"]) < cost
    app.multiselect(key="f_clusters").set_value([]).run()
    app.multiselect(key="f_teams").select("search").run()
    ok(app)
    assert 0 < amount(metrics(app)["Fleet cost"]) < cost


def test_teams_drill_down_is_kept_in_the_url(fleet_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(fleet_url, monkeypatch, page="views/teams.py")
    ok(app)
    table = app.dataframe[0].value
    assert {"team", "total_cost", "cpu_efficiency", "idle_share", "storage_cost", "network_cost",
            "monthly_savings"} <= set(table.columns)  # fmt: skip
    team = app.selectbox(key="focus_team")
    assert IDLE not in team.options and "__unmounted__" not in team.options
    team.select("search").run()
    ok(app)
    assert link(app, "focus_team") == ["search"]
    # the team's storage and load-balancer cost, as the teams table (idle shared) has them
    row = table.set_index("team").loc["search"]
    expected = f"Of it: storage {numbers.money(float(row['storage_cost']))}"
    assert any(c.value.startswith(expected) for c in app.caption), [c.value for c in app.caption]
    assert f"load balancers {numbers.money(float(row['network_cost']))}" in " ".join(
        c.value for c in app.caption
    )
    namespace = app.selectbox(key="focus_namespace")
    namespace.select(namespace.options[0]).run()
    ok(app)
    workload = app.selectbox(key="focus_workload")
    workload.select(workload.options[0]).run()
    ok(app)
    url = dict(app.query_params)
    assert link(app, "focus_namespace") == [namespace.options[0]]
    assert link(app, "focus_workload") == [workload.options[0]]
    # namespaces, workloads and the workload's recommendations: one table (and CSV) each
    assert len(app.dataframe) == 4
    assert len(app.get("download_button")) == 4

    # the same link opens the same view in a new session
    again = run_app(fleet_url, monkeypatch, page="views/teams.py", **url)
    ok(again)
    assert again.selectbox(key="focus_team").value == "search"
    assert again.selectbox(key="focus_namespace").value == namespace.options[0]
    assert again.selectbox(key="focus_workload").value == workload.options[0]
    assert len(again.dataframe) == 4


def test_savings_page_filters_and_risks(
    fleet_url: str, fleet_window: tuple[datetime, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_app(fleet_url, monkeypatch, page="views/savings.py")
    ok(app)
    start, end = fleet_window
    recs = report(fleet_url, "recommendations", start, end)
    assert metrics(app)["Savings / month"] == numbers.money(float(recs["monthly_savings"].sum()))
    at_risk = summary.risks(recs)
    assert metrics(app)["Risks"] == str(len(at_risk)) and len(at_risk) > 0
    assert len(app.dataframe) == 5  # right-sizing, risks, nodes now vs needed, node types, orphaned disks
    packing = report(fleet_url, "binpacking", start, end)
    now, needed = int(packing["nodes"].sum()), int(packing["nodes_needed_rightsized"].sum())
    assert metrics(app)["Nodes now → needed"] == f"{now:,} → {needed:,}"
    assert metrics(app)["Node savings / month"] == numbers.money(
        float(packing["monthly_savings_rightsized"].clip(lower=0).sum())
    )
    known = packing[packing["cpu_used"].notna()]
    assert len(known) == len(packing)  # the demo fleet reports usage everywhere
    now_share = known["cpu_used"].sum() / known["cpu_allocatable"].sum()
    as_requested = (
        known["cpu_used_packed_as_requested"].sum() / known["cpu_allocatable_packed_as_requested"].sum()
    )
    packed_share = known["cpu_used_packed"].sum() / known["cpu_allocatable_packed"].sum()
    shown_share = f"{now_share:.0%} → {as_requested:.0%} → {packed_share:.0%}"
    assert metrics(app)["CPU utilization now → packed → right-sized"] == shown_share
    assert packed_share > as_requested > now_share  # fewer nodes, the same work
    shown = app.dataframe[2].value
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), packing[savings_view.PACKING_SHOWN])
    engine = open_store(fleet_url)
    with engine.connect() as conn:
        latest_nodes = len(inventory.node_packing(conn))  # one row per node of the latest snapshots
    engine.dispose()
    assert now == latest_nodes and 0 < needed < now
    # orphaned disks: the volumes no pod mounted for part of the window, costliest unmounted first
    volumes = report(fleet_url, "volumes", start, end)
    unmounted = volumes[volumes["unmounted_cost"] > 0].sort_values(
        "unmounted_cost", ascending=False, kind="stable"
    )
    assert len(unmounted) >= 3  # the simulated fleet leaves disks behind in every cluster
    pd.testing.assert_frame_equal(
        app.dataframe[4].value.reset_index(drop=True),
        unmounted[savings_view.VOLUMES_SHOWN].reset_index(drop=True),
    )
    # the node type per pool: the AWS clusters' pools searched, the GCE ones not in the catalog
    types = report(fleet_url, "nodetypes", start, end)
    pd.testing.assert_frame_equal(
        app.dataframe[3].value.reset_index(drop=True), types[savings_view.NODE_TYPES_SHOWN]
    )
    assert (
        types["best_instance_type"].notna().sum() >= 5
        and types["note"].str.contains("not in the catalog").any()
    )
    assert metrics(app)["Savings / month on the best types"] == numbers.money(
        float(types["monthly_savings"].clip(lower=0).sum())
    )
    assert metrics(app)["Disks unmounted a while"] == f"{len(unmounted):,} of {len(volumes):,}"
    app.multiselect(key="action").select("increase").run()
    ok(app)
    increases = recs[recs["action"] == "increase"]["monthly_savings"]  # the resource that goes down
    assert metrics(app)["Savings / month"] == numbers.money(float(increases.sum()))
    assert metrics(app)["Containers to reduce"] == "0"
    assert link(app, "action") == ["increase"]
    app.multiselect(key="action").set_value(["reduce"]).run()
    app.multiselect(key="rec_cluster").select("prod-us-east-1").run()
    ok(app)
    expected = recs[(recs["action"] == "reduce") & (recs["cluster"] == "prod-us-east-1")]["monthly_savings"]
    assert metrics(app)["Savings / month"] == numbers.money(float(expected.sum()))
    # leaving the page drops its parameters from the link
    app.switch_page("views/overview.py").run()
    ok(app)
    assert "action" not in app.query_params and "rec_cluster" not in app.query_params


def test_csv_download_has_the_report_columns(fleet_url: str, fleet_window: tuple[datetime, datetime]) -> None:
    from dashboard.data import csv_bytes

    start, end = fleet_window
    frame = report(fleet_url, "namespaces", start, end, step="day")  # empty days included
    assert csv_bytes(frame).decode() == render_report(frame, "csv")
    assert csv_bytes(frame).decode().splitlines()[0].startswith("period_start,cluster,namespace,team")


# --- pure builders ----------------------------------------------------------------------------


def daily_teams() -> pd.DataFrame:
    rows = []
    for day in ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"):
        for i, team in enumerate(["a", "b", "c", "d", IDLE]):
            rows.append({"period_start": day, "team": team, "total_cost": 10.0 - i})
    return pd.DataFrame(rows)


def test_team_colours_are_deterministic_and_fixed_for_idle() -> None:
    assert figures.team_color("payments") == figures.team_color("payments")
    assert figures.team_color(IDLE) == figures.FIXED_COLORS[IDLE]
    names = [f"team-{i}" for i in range(40)]
    assert len(set(figures.color_map(names).values())) > 15
    fig = figures.cost_over_time(daily_teams(), top=2)
    colours = {t.name: t.marker.color for t in fig.data}
    assert colours["a"] == figures.team_color("a")
    bars = figures.cost_bars(daily_teams(), key="team")
    assert list(bars.data[0].marker.color) == [figures.team_color(str(n)) for n in bars.data[0].y]


def test_cost_over_time_keeps_top_teams_and_folds_the_rest() -> None:
    fig = figures.cost_over_time(daily_teams(), top=2)
    assert [t.name for t in fig.data] == ["a", "b", "other", IDLE]
    other = next(t for t in fig.data if t.name == "other")
    assert list(other.y) == [8.0 + 7.0, 8.0 + 7.0]  # c and d
    assert fig.layout.barmode == "stack"
    assert sum(sum(t.y) for t in fig.data) == pytest.approx(daily_teams()["total_cost"].sum())
    empty = figures.cost_over_time(pd.DataFrame())
    assert not empty.data and empty.layout.annotations


def test_capacity_over_time_averages_cores_per_period() -> None:
    nodes = pd.DataFrame(
        {
            "period_start": ["2026-11-01T12:00:00Z", "2026-11-01T12:00:00Z", "2026-11-02T00:00:00Z"],
            "cpu_allocatable_core_hours": [48.0, 48.0, 192.0],
            "cpu_requested_core_hours": [24.0, 24.0, 96.0],
            "cpu_usage_core_hours": [12.0, 12.0, 48.0],
        }
    )
    fig = figures.capacity_over_time(nodes, end=datetime(2026, 11, 3, tzinfo=UTC))
    by_name = {t.name: list(t.y) for t in fig.data}
    # 96 core-hours over the 12-hour first period and 192 over the 24-hour second: 8 cores each
    assert by_name == {"allocatable": [8.0, 8.0], "requested": [4.0, 4.0], "used": [2.0, 2.0]}


def test_request_vs_usage_bars() -> None:
    frame = pd.DataFrame(
        {
            "cluster": ["p", "p", "p"],
            "namespace": ["x", "y", IDLE],
            "team": ["t", "t", IDLE],
            "cpu_request_core_hours": [10.0, 20.0, 0.0],
            "cpu_usage_core_hours": [5.0, 1.0, 0.0],
        }
    )
    fig = figures.request_vs_usage(frame, label=["cluster", "namespace"])
    assert [t.name for t in fig.data] == ["requested", "used"]
    assert list(fig.data[0].x) == ["p/y", "p/x"] and list(fig.data[1].y) == [1.0, 5.0]


def test_figures_take_their_margins_from_their_labels() -> None:
    """No automatic margins (plotly.js would draw every chart twice): room from the labels instead."""
    long = "platform-observability-and-reliability-"  # 39 characters, then a distinct end
    frame = daily_teams().replace({"team": {"a": long + "one", "b": long + "two", "c": "c"}})
    fig = figures.cost_over_time(frame, top=5)
    assert fig.layout.margin.autoexpand is False
    assert fig.layout.xaxis.automargin is False and fig.layout.yaxis.automargin is False
    cut = [t.name for t in fig.data if t.name.startswith("platform")]
    assert len(cut) == 2 and all(len(n) == figures.LABEL_CHARS and n.endswith("…") for n in cut)
    assert fig.layout.margin.r == figures.LEGEND_ENTRY_PX + figures.CHAR_PX * figures.LABEL_CHARS
    assert fig.data[0].marker.color == figures.team_color(long + "one")  # colour of the whole name
    short_only = figures.cost_over_time(daily_teams(), top=5)
    assert short_only.layout.margin.r == figures.LEGEND_ENTRY_PX + figures.CHAR_PX * len(IDLE)
    # names cut alike stay two bars; the axis shows them cut, the hover whole
    bars = figures.cost_bars(frame, key="team")
    assert {long + "one", long + "two"} <= set(bars.data[0].y)
    assert len(bars.data[0].y) == frame["team"].nunique()
    assert max(len(t) for t in bars.layout.yaxis.ticktext) == figures.LABEL_CHARS
    assert bars.layout.margin.l == figures.CHAR_PX * figures.LABEL_CHARS + 15
    usage = pd.DataFrame(
        {
            "namespace": [long + "one", long + "two"],
            "team": ["t", "t"],
            "cpu_request_core_hours": [10.0, 20.0],
            "cpu_usage_core_hours": [5.0, 1.0],
        }
    )
    slanted = figures.request_vs_usage(usage, label=["namespace"])
    assert list(slanted.data[0].x) == [long + "two", long + "one"]
    assert slanted.layout.xaxis.tickangle == -40
    assert slanted.layout.margin.b > figures.DATE_AXIS_PX


def test_the_shipped_plotly_js_is_the_cartesian_bundle_plotly_py_writes_for() -> None:
    from plotly.offline import get_plotlyjs_version

    version = get_plotlyjs_version()
    assert f"plotly-cartesian-{version}.min.js" == charts.PLOTLY_JS  # upgrade both together
    shipped = Path(charts.__file__).with_name("static") / charts.PLOTLY_JS
    head = shipped.read_text()[:200]
    assert f"plotly.js (cartesian - minified) v{version}" in head
    assert shipped.with_name("PLOTLY-LICENSE").read_text().startswith("MIT License")


def test_a_chart_plotly_js_cartesian_cannot_draw_is_refused() -> None:
    import plotly.graph_objects as go

    drawn = json.loads(charts.spec(figures.cost_bars(daily_teams())))
    assert drawn["layout"]["template"]["layout"]["paper_bgcolor"] == "rgba(0, 0, 0, 0)"  # the page's
    assert drawn["data"][0]["type"] == "bar"
    with pytest.raises(ValueError, match="scattergeo"):
        charts.spec(go.Figure(go.Scattergeo(lat=[0], lon=[0])))


def test_fleet_summary_and_formats() -> None:
    teams = pd.DataFrame(
        {
            "team": ["a", "b", IDLE],
            "cpu_request_core_hours": [10.0, 30.0, 0.0],
            "cpu_efficiency": [0.5, 0.1, math.nan],
            "memory_request_gib_hours": [10.0, 10.0, 0.0],
            "memory_efficiency": [0.2, 0.4, math.nan],
            "cpu_cost": [1.0, 3.0, 0.0],
            "memory_cost": [1.0, 1.0, 0.0],
            "total_efficiency": [0.35, 0.175, math.nan],
            "total_cost": [2.0, 4.0, 4.0],
        }
    )
    nodes = pd.DataFrame(
        {
            "cpu_utilization": [0.2, 0.5],
            "cpu_allocation": [0.5, 1.0],
            "cpu_allocatable_core_hours": [30.0, 10.0],
            "memory_utilization": [0.1, math.nan],
            "memory_allocation": [0.4, 0.8],
            "memory_allocatable_gib_hours": [100.0, 100.0],
        }
    )
    recs = pd.DataFrame(
        {"monthly_savings": [1.5, 2.5], "action": ["reduce", "increase"], "oom_kills": [0, 0]}
    )
    s = summary.fleet_summary(teams, nodes, recs, hours=73.0)
    assert s.cost == 10.0 and s.idle_cost == 4.0 and s.monthly_run_rate == pytest.approx(100.0)
    assert s.cpu_efficiency == pytest.approx((0.5 * 10 + 0.1 * 30) / 40)
    assert s.memory_efficiency == pytest.approx(0.3)
    assert s.cpu_utilization == pytest.approx((0.2 * 30 + 0.5 * 10) / 40)
    assert s.cpu_allocation == pytest.approx(0.625)
    assert s.memory_utilization == pytest.approx(0.1)  # unknown usage is left out, not zero
    assert s.monthly_savings == 4.0
    assert len(summary.risks(recs)) == 1
    assert numbers.money(1234.5) == "$1,234.50"
    assert numbers.money(-2, "CHF") == "-2.00 CHF"
    assert numbers.share(0.2614, 1) == "26.1 %" and numbers.share(math.nan) == "—"
    assert numbers.cores(2.5) == "2.5 cores" and numbers.cores(0.25) == "250m"
    start, end = window_bounds(datetime(2026, 11, 1, 10, 5, 30, tzinfo=UTC), "1d")
    assert (start, end) == (
        datetime(2026, 10, 31, 10, 6, tzinfo=UTC),
        datetime(2026, 11, 1, 10, 6, tzinfo=UTC),
    )
