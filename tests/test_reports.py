"""Reports over a simulated fleet: every cent of node cost is charged once, raw and rolled-up
data give the same totals, and the CLI speaks CSV, JSON and tables with unit-named columns."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, event, func, select

from capacity.cli import main
from capacity.config import Config, Overhead, Retention, Rightsizing, Shared
from capacity.reports import (
    CLUSTER_COLUMNS,
    Reads,
    ReportRequest,
    build_report,
    periods,
    rightsizing_since,
    team_names,
)
from capacity.store import schema as m
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from tests.bills import asset_bill
from tests.conftest import Fleet

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
START = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

TEAMS_COLUMNS = [
    "team",
    "cpu_request_core_hours",
    "cpu_usage_core_hours",
    "cpu_efficiency",
    "memory_request_gib_hours",
    "memory_usage_gib_hours",
    "memory_efficiency",
    "gpu_hours",
    "cpu_cost",
    "memory_cost",
    "gpu_cost",
    "storage_cost",
    "network_cost",
    "shared_cost",
    "idle_cost",
    "total_cost",
    "total_efficiency",
    "monthly_savings",
]
RECOMMENDATION_COLUMNS = [
    "cluster",
    "namespace",
    "workload_kind",
    "workload",
    "container",
    "team",
    "replicas",
    "cpu_request",
    "cpu_recommended",
    "memory_request_bytes",
    "memory_recommended_bytes",
    "monthly_savings",
    "action",
    "reason",
]


@pytest.fixture(scope="module")
def fleet_db(simulated_fleet: Fleet) -> str:
    """Two days of the simulated fleet, hourly, written through the collector path."""
    return simulated_fleet(days=2, seed=2, now=NOW)


def report(engine: Engine, kind: str, **kw: object) -> pd.DataFrame:
    request = ReportRequest(kind=kind, start=kw.pop("start", START), end=kw.pop("end", END), **kw)  # type: ignore[arg-type]
    with engine.connect() as conn:
        return build_report(conn, request, Config())


def node_cost(engine: Engine, **kw: object) -> float:
    return float(report(engine, "nodes", **kw)["total_cost"].sum())


def bill(engine: Engine) -> float:
    """Nodes, volumes and load balancers of the window (the default config has no fees)."""
    return node_cost(engine) + asset_bill(engine, START, END)


@pytest.mark.parametrize("idle", ["separate", "share"])
def test_teams_idle_and_unmounted_equal_the_whole_bill_to_the_cent(fleet_db: str, idle: str) -> None:
    engine = open_store(fleet_db)
    try:
        teams = report(engine, "teams", idle=idle)
        volumes_and_lbs = asset_bill(engine, START, END)
        assert node_cost(engine) > 10 and volumes_and_lbs > 1  # StatefulSets' claims, left-behind disks, LBs
        assert round(teams["total_cost"].sum(), 2) == round(bill(engine), 2)
        assert teams["total_cost"].sum() == pytest.approx(bill(engine), abs=0.005)
        # by namespace (shared ones, which teams carry as shared cost, included): the volumes and LBs
        namespaces = report(engine, "namespaces", idle=idle)
        held = namespaces["storage_cost"].sum() + namespaces["network_cost"].sum()
        assert held == pytest.approx(volumes_and_lbs)
        assert teams["storage_cost"].sum() + teams["network_cost"].sum() < held  # the shared ones' are shared
        unmounted = teams[teams["team"] == "__unmounted__"]
        assert sorted(unmounted["cluster"]) == ["prod-eu-west-1", "prod-us-east-1", "staging-us-central1"]
        assert (
            len(teams[~teams["team"].isin(["__idle__", "__unmounted__"])]) >= 30
        )  # some namespaces carry no team label
        assert (teams[["cpu_cost", "memory_cost", "shared_cost", "idle_cost", "total_cost"]] >= 0).all().all()
        if idle == "separate":
            idle_rows = teams[teams["team"] == "__idle__"]
            assert sorted(idle_rows["cluster"]) == ["prod-eu-west-1", "prod-us-east-1", "staging-us-central1"]
        else:
            assert "__idle__" not in set(teams["team"])
    finally:
        engine.dispose()


def test_chargeback_per_month_adds_up(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        charge = report(engine, "chargeback", idle="share")  # one row per team per month by default
        assert set(charge["period_start"]) == {"2026-11-19T06:00:00Z"}
        assert charge["total_cost"].sum() == pytest.approx(bill(engine), abs=0.005)
        assert list(charge.columns) == [
            "period_start",
            "team",
            "cluster",
            "cpu_cost",
            "memory_cost",
            "gpu_cost",
            "storage_cost",
            "network_cost",
            "shared_cost",
            "idle_cost",
            "total_cost",
        ]
    finally:
        engine.dispose()


# Shared namespaces (the defaults) and fixed overheads, one of them for one cluster only.
OVERHEADS = Config(
    shared=Shared(
        overheads=[
            Overhead(name="control-plane", hourly=0.10),
            Overhead(name="eu-support", hourly=0.50, cluster="prod-eu-west-1"),
        ]
    )
)
KEYS = {
    "teams": ["team", "cluster"],
    "chargeback": ["team", "cluster"],
    "namespaces": ["cluster", "namespace", "team"],
    "workloads": ["cluster", "namespace", "kind", "workload", "team"],
    "nodes": ["cluster", "node"],
    "clusters": ["cluster"],
}


@pytest.mark.parametrize("idle", ["separate", "share"])
@pytest.mark.parametrize("kind", list(KEYS))
def test_a_stepped_report_is_one_report_per_period(fleet_db: str, kind: str, idle: str) -> None:
    start, end = datetime(2026, 11, 18, 17, 23, tzinfo=UTC), datetime(2026, 11, 20, 13, 41, tzinfo=UTC)
    spans = periods(start, end, "day")
    assert len(spans) == 3
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            stepped = build_report(conn, ReportRequest(kind, start, end, step="day", idle=idle), OVERHEADS)  # type: ignore[arg-type]
            parts = []
            for lo, hi in spans:
                part = build_report(conn, ReportRequest(kind, lo, hi, idle=idle), OVERHEADS)  # type: ignore[arg-type]
                if "period_start" not in part.columns:
                    part.insert(0, "period_start", lo.isoformat().replace("+00:00", "Z"))
                parts.append(part)
    finally:
        engine.dispose()
    want = pd.concat(parts, ignore_index=True)
    assert list(stepped.columns) == list(want.columns)
    assert len(want) > 3 and sorted(set(stepped["period_start"])) == [
        "2026-11-18T17:23:00Z", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z",
    ]  # fmt: skip
    # Same rows in the same order; savings are right-sized once, as of the request's end, instead.
    assert (
        stepped[["period_start", *KEYS[kind]]].values.tolist()
        == want[["period_start", *KEYS[kind]]].values.tolist()
    )
    numbers = [c for c in want.columns if c != "monthly_savings" and pd.api.types.is_float_dtype(want[c])]
    assert "total_cost" in numbers
    for column in numbers:
        got, expected = stepped[column].to_numpy(dtype=float), want[column].to_numpy(dtype=float)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9, nan_ok=True), column
    if kind in ("teams", "chargeback"):
        assert stepped["shared_cost"].sum() > 0


def test_cluster_report_is_the_node_report_summed(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        clusters = report(engine, "clusters").set_index("cluster")
        nodes = report(engine, "nodes")
    finally:
        engine.dispose()
    assert list(clusters.reset_index().columns) == CLUSTER_COLUMNS
    summed = nodes.groupby("cluster").sum(numeric_only=True)
    assert sorted(clusters.index) == sorted(summed.index) and len(clusters) == 3
    for column in (
        "cpu_allocatable_core_hours",
        "memory_usage_gib_hours",
        "total_cost",
        "idle_cost",
        "gpu_cost",
    ):
        assert clusters[column].to_dict() == pytest.approx(summed[column].to_dict(), rel=1e-9), column
    # average nodes = node-hours / hours the cluster's snapshots cover
    window_hours = (END - START).total_seconds() / 3600.0
    assert clusters["hours"].to_dict() == pytest.approx(dict.fromkeys(clusters.index, window_hours), rel=0.05)
    assert clusters["nodes_average"].to_dict() == pytest.approx(
        (summed["hours"] / clusters["hours"]).to_dict(), rel=1e-9
    )
    allocation = summed["cpu_requested_core_hours"] / summed["cpu_allocatable_core_hours"]
    assert clusters["cpu_allocation"].to_dict() == pytest.approx(allocation.to_dict(), rel=1e-9)


def test_reports_over_one_window_share_their_reads(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    reads = Reads()
    try:
        with engine.connect() as conn:
            alone = build_report(conn, ReportRequest("teams", START, END), Config())
            nodes_alone = build_report(conn, ReportRequest("nodes", START, END), Config())
            shared = build_report(conn, ReportRequest("teams", START, END), Config(), reads=reads)
            held = len(reads._memo)
            again = build_report(conn, ReportRequest("teams", START, END), Config(), reads=reads)
            nodes = build_report(conn, ReportRequest("nodes", START, END), Config(), reads=reads)
            recs = build_report(conn, ReportRequest("recommendations", START, END), Config(), reads=reads)
    finally:
        engine.dispose()
    pd.testing.assert_frame_equal(shared, alone)
    pd.testing.assert_frame_equal(again, alone)
    pd.testing.assert_frame_equal(nodes, nodes_alone)
    # right-sizing: containers with histograms and the clusters' observed seconds over the 14 days
    # up to END, the recommendations, and the workloads that ran in the window (to list only them);
    # allocation: containers, volumes and load balancers, and clusters over the window
    assert held == 7
    assert len(reads._memo) == 8  # + nodes; the second teams report and the recommendations read nothing
    # the Savings table and the teams' savings column are the same recommendations
    assert recs["monthly_savings"].sum() == pytest.approx(shared["monthly_savings"].sum(), rel=1e-12)
    assert recs["monthly_savings"].sum() > 0


def test_a_window_as_long_as_the_recommendations_reads_containers_once(fleet_db: str) -> None:
    """The right-sizing window (``rightsizing.window_days`` back, from the start of that UTC day)
    as the report's: the right-sizing read serves the allocation."""
    since = rightsizing_since(END, Config())
    assert since == datetime(2026, 11, 6, tzinfo=UTC)  # END is 2026-11-20 14:00
    engine = open_store(fleet_db)
    reads = Reads()
    try:
        with engine.connect() as conn:
            shared = build_report(conn, ReportRequest("teams", since, END), Config(), reads=reads)
            alone = build_report(conn, ReportRequest("teams", since, END), Config())
    finally:
        engine.dispose()
    reads_of_containers = [key for key in reads._memo if isinstance(key, tuple) and key[0] == "containers"]
    assert len(reads_of_containers) == 1 and reads_of_containers[0][4] is True  # with histograms
    pd.testing.assert_frame_equal(shared, alone)


def test_team_names_are_the_teams_report_without_idle(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        teams = report(engine, "teams")
        with engine.connect() as conn:
            names = team_names(conn, START, END, (), Config())
            one = team_names(conn, START, END, ("staging-us-central1",), Config())
    finally:
        engine.dispose()
    want = sorted(set(teams["team"]) - {"__idle__", "__shared__", "__unmounted__"})
    assert names == want and len(names) >= 30
    assert set(one) < set(names)


def test_rollups_give_the_same_totals_as_raw_rows(fleet_db: str, tmp_path: Path) -> None:
    engine = open_store(fleet_db)
    try:
        start, end = datetime(2026, 11, 18, 17, 23, tzinfo=UTC), datetime(2026, 11, 20, 13, 41, tzinfo=UTC)
        raw = report(engine, "teams", start=start, end=end).set_index(["team", "cluster"])
        compact(engine, retention=Retention(), now=NOW)
        rolled = report(engine, "teams", start=start, end=end).set_index(["team", "cluster"])
        assert set(rolled.index) == set(raw.index)
        for column in (
            "cpu_request_core_hours",
            "cpu_usage_core_hours",
            "memory_request_gib_hours",
            "total_cost",
            "idle_cost",
            "shared_cost",
        ):
            assert rolled[column].sum() == pytest.approx(raw[column].sum(), rel=1e-3)
            joined = raw[column].fillna(0).to_frame("raw").join(rolled[column].fillna(0).to_frame("rolled"))
            assert ((joined["raw"] - joined["rolled"]).abs() <= 1e-3 * joined["raw"].abs() + 1e-6).all()
    finally:
        engine.dispose()


def test_recommendations_over_the_simulated_fleet(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        recs = report(engine, "recommendations", start=NOW - timedelta(days=2), end=NOW)
        assert list(recs.columns[: len(RECOMMENDATION_COLUMNS)]) == RECOMMENDATION_COLUMNS
        actions = set(recs["action"])
        assert {"reduce", "increase"} <= actions
        assert (recs["monthly_savings"] >= 0).all()
        reduce = recs[recs["action"] == "reduce"]
        assert (reduce["cpu_recommended"] >= 0.010).all() and (
            reduce["memory_recommended_bytes"] >= 20 * 2**20
        ).all()
        oom = recs[recs["oom_kills"] > 0]
        assert not oom.empty and (oom["action"] == "increase").all()
    finally:
        engine.dispose()


def test_report_cli_formats_and_filters(
    fleet_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", "2026-11-19T06:00", "--end", "2026-11-20T14:00"]
    assert main(["report", "teams", "--db", fleet_db, *window, "--format", "csv"]) == 0
    teams = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(teams.columns) == ["team", "cluster", *TEAMS_COLUMNS[1:]]

    out = tmp_path / "recs.json"
    assert (
        main(
            ["report", "recommendations", "--db", fleet_db, *window, "--format", "json", "--output", str(out)]
        )
        == 0
    )
    recs = json.loads(out.read_text())
    assert recs and RECOMMENDATION_COLUMNS[0] in recs[0]

    first_team = teams[teams["team"] != "__idle__"]["team"].iloc[0]
    assert (
        main(["report", "workloads", "--db", fleet_db, *window, "--team", first_team, "--format", "csv"]) == 0
    )
    workloads = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(workloads["team"]) == {first_team}

    assert main(["report", "teams", "--db", fleet_db, *window, "--step", "day", "--format", "csv"]) == 0
    daily = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert sorted(set(daily["period_start"])) == ["2026-11-19T06:00:00Z", "2026-11-20T00:00:00Z"]
    assert daily["total_cost"].sum() == pytest.approx(teams["total_cost"].sum(), rel=1e-8)

    assert main(["report", "nodes", "--db", fleet_db, *window]) == 0
    assert "instance_type" in capsys.readouterr().out


def test_report_by_another_dimension(
    fleet_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("attribution:\n  dimensions:\n    cost_center:\n      label_keys: [cost-center]\n")
    code = main(
        [
            "report",
            "teams",
            "--db",
            fleet_db,
            "--config",
            str(config),
            "--by",
            "cost_center",
            "--start",
            "2026-11-19",
            "--end",
            "2026-11-20",
            "--format",
            "csv",
        ]
    )
    assert code == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert frame.columns[0] == "cost_center"
    assert len(set(frame["cost_center"])) >= 3  # the simulator labels cost centres on some namespaces


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--by", "galaxy"], "not a configured dimension"),
        (["--start", "yesterday"], "not a date or timestamp"),
        (["--start", "2026-11-20", "--end", "2026-11-19"], "empty window"),
        (["--window", "7d", "--start", "2026-11-19"], "either --window or --start"),
    ],
)
def test_report_argument_errors(
    fleet_db: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["report", "teams", "--db", fleet_db, *argv]) == 2  # usage errors, like bad flags
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_report_says_how_many_nodes_were_priced_by_fallback(
    fleet_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", "2026-11-20", "--end", "2026-11-20T14:00"]
    assert main(["report", "nodes", "--db", fleet_db, *window]) == 0
    err = capsys.readouterr().err
    [line] = [ln for ln in err.splitlines() if ln.startswith("pricing of the")]
    # the simulated fleet runs real AWS and GCE instance types (catalog) and AWS spot pools,
    # which the catalog has no spot price for (default spot rates)
    assert "by catalog" in line and "by default" in line and "at default per-resource rates" in line


def test_rightsizing_policy_comes_from_config(
    fleet_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", "2026-11-18T16:00", "--end", "2026-11-20T15:00", "--format", "csv"]
    assert main(["report", "recommendations", "--db", fleet_db, *window]) == 0
    p95 = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index(
        ["cluster", "namespace", "workload", "container"]
    )
    config = tmp_path / "c.yaml"
    config.write_text("rightsizing: {cpu_percentile: 0.5, memory_margin: 0.5}\n")
    assert main(["report", "recommendations", "--db", fleet_db, "--config", str(config), *window]) == 0
    p50 = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index(
        ["cluster", "namespace", "workload", "container"]
    )
    both = p95.join(p50, suffixes=("", "_p50")).dropna(subset=["cpu_recommended", "cpu_recommended_p50"])
    # an HPA-scaled workload's request follows its replica projection, not the percentile alone
    both = both[both["hpa"].isna()]
    assert len(both) > 50
    assert (both["cpu_recommended_p50"] <= both["cpu_recommended"]).all()
    assert (both["cpu_recommended_p50"] < both["cpu_recommended"]).any()
    assert (both["memory_recommended_bytes_p50"] >= both["memory_recommended_bytes"]).all()


def test_recommendations_cover_the_window_days_up_to_the_request_end(fleet_db: str) -> None:
    config = Config(rightsizing=Rightsizing(window_days=0.5, min_hours=1))
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            whole = build_report(conn, ReportRequest("recommendations", START, END), config)
            # the recommendation window: 12 hours back, from the start of that UTC day
            since = rightsizing_since(END, config)
            assert since == datetime(2026, 11, 20, tzinfo=UTC)
            last = build_report(conn, ReportRequest("recommendations", since, END), config)
            # a request shorter than the recommendation window still right-sizes over all of it,
            # the workloads that ran in the request
            short = build_report(
                conn, ReportRequest("recommendations", END - timedelta(hours=2), END), config
            )
            teams = build_report(conn, ReportRequest("teams", END - timedelta(hours=2), END), config)
            ran = build_report(conn, ReportRequest("workloads", END - timedelta(hours=2), END), config)
            everything = build_report(conn, ReportRequest("recommendations", START, END), Config())
    finally:
        engine.dispose()
    assert len(whole) > 50
    pd.testing.assert_frame_equal(whole, last)
    names = set(ran[["cluster", "namespace", "kind", "workload"]].itertuples(index=False, name=None))
    keys = whole[["cluster", "namespace", "workload_kind", "workload"]].itertuples(index=False, name=None)
    listed = whole[[key in names for key in keys]].reset_index(drop=True)
    assert 0 < len(short) < len(whole)  # the fleet's jobs that finished earlier are not listed
    pd.testing.assert_frame_equal(short, listed)
    assert teams["monthly_savings"].sum() == pytest.approx(short["monthly_savings"].sum(), rel=1e-12)
    # with the default 14 days, all 32 hours of data are the evidence: other figures
    assert not whole["cpu_recommended"].equals(everything["cpu_recommended"])


def test_replicas_average_over_the_time_the_clusters_were_observed(fleet_db: str) -> None:
    """A 14-day policy over 2 days of data: replicas and savings as if the window were those days."""
    from capacity.store.status import cluster_status

    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            status = cluster_status(conn)
            first = min(s.first_snapshot for s in status)
            end = max(s.latest_snapshot for s in status) + timedelta(hours=1)  # hourly snapshots
            exact = Config(rightsizing=Rightsizing(window_days=(end - first).total_seconds() / 86400))
            long = build_report(conn, ReportRequest("recommendations", first, end), Config())
            fit = build_report(conn, ReportRequest("recommendations", first, end), exact)
    finally:
        engine.dispose()
    assert len(long) > 50 and long["monthly_savings"].sum() > 0
    keys = ["cluster", "namespace", "workload_kind", "workload", "container"]
    pd.testing.assert_frame_equal(
        long.sort_values(keys).reset_index(drop=True),
        fit.sort_values(keys).reset_index(drop=True),
        check_exact=False,
        rtol=1e-9,
    )


def test_stepped_recommendations_are_each_periods_report(fleet_db: str) -> None:
    """Per period: as of its end, over the rightsizing window, the workloads that ran in it."""
    config = Config(rightsizing=Rightsizing(window_days=0.5, min_hours=1))
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            stepped = build_report(conn, ReportRequest("recommendations", START, END, step="day"), config)
            alone = {
                lo: build_report(conn, ReportRequest("recommendations", lo, hi), config)
                for lo, hi in periods(START, END, "day")
            }
    finally:
        engine.dispose()
    assert len(alone) == 2
    for lo, frame in alone.items():
        part = stepped[stepped["period_start"] == lo.strftime("%Y-%m-%dT%H:%M:%SZ")]
        assert len(frame) > 50
        pd.testing.assert_frame_equal(part.drop(columns="period_start").reset_index(drop=True), frame)


def test_clusters_report_from_the_cli(fleet_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    window = ["--start", "2026-11-19T06:00", "--end", "2026-11-20T14:00"]
    assert main(["report", "clusters", "--db", fleet_db, *window, "--step", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(rows[0]) == ["period_start", *CLUSTER_COLUMNS]
    assert {r["period_start"] for r in rows} == {"2026-11-19T06:00:00Z", "2026-11-20T00:00:00Z"}
    assert len(rows) == 6 and all(r["nodes_average"] > 0 and r["total_cost"] > 0 for r in rows)


def test_a_window_read_adds_up_its_periods_when_they_were_read(fleet_db: str) -> None:
    spans = tuple(periods(START, END, "day"))
    engine = open_store(fleet_db)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    try:
        with engine.connect() as conn:
            want = Reads().containers(conn, START, END, (), histograms=False)
            reads = Reads()
            reads.containers(conn, START, END, (), histograms=False, spans=spans)
            event.listen(engine, "before_cursor_execute", count)
            try:
                got = reads.containers(conn, START, END, (), histograms=False)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert statements == []  # no database read: the periods were added up
            teams = build_report(conn, ReportRequest("teams", START, END), Config(), reads=reads)
            plain = build_report(conn, ReportRequest("teams", START, END), Config())
    finally:
        engine.dispose()
    assert len(want) > 100
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(teams, plain, check_exact=False, rtol=1e-9)


def test_recommendations_name_the_autoscaler_of_each_workload(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        recs = report(engine, "recommendations")
        with engine.connect() as conn:
            newest = conn.execute(
                select(func.max(m.Snapshot.taken_at)).where(m.Snapshot.taken_at < END)
            ).scalar()
            query = (
                select(
                    m.Cluster.name,
                    m.Workload.namespace,
                    m.Workload.name,
                    m.HpaSample.name,
                    m.HpaSample.metrics,
                )
                .join(m.Snapshot, m.Snapshot.id == m.HpaSample.snapshot_id)
                .join(m.Workload, m.Workload.id == m.HpaSample.workload_id)
                .join(m.Cluster, m.Cluster.id == m.Snapshot.cluster_id)
                .where(m.Snapshot.taken_at == newest)
            )
            stored = {(c, ns, w): (h, metrics) for c, ns, w, h, metrics in conn.execute(query)}
    finally:
        engine.dispose()
    scaled = recs[recs["hpa"] != ""]
    assert len(scaled) > 20 and set(recs.loc[recs["hpa"] == "", "hpa_target"]) == {""}
    for row in scaled.itertuples():
        name, metrics = stored[(row.cluster, row.namespace, row.workload)]
        assert row.hpa == name
        [metric] = metrics  # the simulator's HPAs scale on one metric each
        unit = "%" if metric["target_type"] == "Utilization" else ""
        prefix = "" if metric["type"] == "Resource" else "external "
        assert row.hpa_target == f"{prefix}{metric['name']} {metric['target']:g}{unit}"
    assert {t.split()[0] for t in scaled["hpa_target"]} >= {"cpu", "memory"}
    # each is right-sized under its HPA: projected, or held with the reason
    projected = scaled[scaled["replicas_projected"].notna()]
    assert len(projected) > 10 and recs.loc[recs["hpa"] == "", "replicas_projected"].isna().all()
    assert projected["reason"].str.contains(r"replicas at the busy times").all()
    external = scaled[scaled["hpa_target"].str.startswith("external")]
    assert (
        len(external) and (external["action"] != "reduce").all() and (external["monthly_savings"] == 0).all()
    )
    assert external["reason"].str.contains("follow a metric the request does not move").all()
