"""``capacity backfill`` against a real Prometheus: the same cluster collected live and backfilled
gives the same reports; re-runs skip what is stored; gaps, duplicated series, other clusters in
the same Prometheus and missing families are handled as documented.

The scenario (tests.prometheus_harness): two simulated clusters over two hours at five minutes,
collected through the live path into one database, and rendered as kube-state-metrics v2 and
cAdvisor series, every kube-state-metrics series twice (two scrape jobs), each labelled with
its cluster, into one Prometheus.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from capacity.config import config_from_mapping
from capacity.store import schema as m
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from collectors.collect import collect_once
from collectors.simulator import Fleet
from tests.prometheus_harness import (
    START,
    STEP,
    PrometheusServer,
    build_tsdb,
    instants,
    render_fleet,
    run,
    scenario_fleet,
    serve_prometheus,
)

CONFIG = "rightsizing:\n  min_hours: 1\n"
WINDOW = ["--start", START.isoformat(), "--end", (START + 2 * timedelta(hours=1)).isoformat()]
RANGE = ["--start", START.isoformat(), "--end", instants()[-1].isoformat(), "--step", "5m"]


@dataclass
class Scenario:
    fleet: Fleet
    cluster: str
    other: str
    url: str
    live_db: str
    config: Path
    data: Path  # the TSDB


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("backfill")
    config_file = root / "config.yaml"
    config_file.write_text(CONFIG, encoding="utf-8")
    config = config_from_mapping({"rightsizing": {"min_hours": 1}})
    fleet = scenario_fleet()
    cluster, other = fleet.cluster_names[:2]
    live = root / "live.db"
    engine = open_store(f"sqlite:///{live}")
    try:
        for at in instants():
            collect_once(fleet.source(cluster, at), engine, cluster=cluster, config=config, taken_at=at)
    finally:
        engine.dispose()
    data = build_tsdb(render_fleet(fleet, [cluster, other], duplicate_ksm=True), root / "tsdb")
    with serve_prometheus(data) as server:
        yield Scenario(fleet, cluster, other, server.url, f"sqlite:///{live}", config_file, data)


def _backfill(
    s: Scenario,
    db: str,
    *,
    url: str | None = None,
    cluster: str | None = None,
    span: list[str] | None = None,
    selected: bool = True,
) -> tuple[int, str, str]:
    """Run ``capacity backfill`` of the scenario (its first cluster, the whole range by default)."""
    cluster = cluster or s.cluster
    selector = ["--prometheus-selector", f'cluster="{cluster}"'] if selected else []
    return run(
        "--db",
        db,
        "--config",
        str(s.config),
        "backfill",
        "--prometheus",
        url or s.url,
        "--cluster",
        cluster,
        *selector,
        *(span or RANGE),
    )


def _report(s: Scenario, db: str, kind: str) -> pd.DataFrame:
    code, out, err = run(
        "--db",
        db,
        "--config",
        str(s.config),
        "report",
        kind,
        *WINDOW,
        "--format",
        "csv",
        "--cluster",
        s.cluster,
    )
    assert code == 0, err
    return pd.read_csv(io.StringIO(out))


def _same(live: pd.DataFrame, backfilled: pd.DataFrame, keys: list[str]) -> None:
    assert len(live) > 3 and list(live.columns) == list(backfilled.columns)
    left = live.sort_values(keys).reset_index(drop=True)
    right = backfilled.sort_values(keys).reset_index(drop=True)
    numeric = [c for c in left.columns if pd.api.types.is_numeric_dtype(left[c])]
    others = [c for c in left.columns if c not in numeric]
    pd.testing.assert_frame_equal(left[others], right[others])
    # CPU usage comes back as rate() over counter samples in float64 text, and quantities as
    # nanocores: a relative 1e-6 is far below a cent and far above that rounding.
    pd.testing.assert_frame_equal(left[numeric], right[numeric], rtol=1e-6, atol=1e-9, check_dtype=False)


def test_backfill_gives_the_reports_of_a_live_collection(scenario: Scenario, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'backfilled.db'}"
    code, out, err = _backfill(scenario, db)
    assert code == 0, err
    assert f"cluster {scenario.cluster}: {len(instants())} snapshots written, 0 already stored" in out
    # kube-state-metrics has no StorageClass parameters: said once, naming the classes
    assert "warning: storage classes gp3, io2 priced as their provisioner's default disk type" in err
    _same(_report(scenario, scenario.live_db, "teams"), _report(scenario, db, "teams"), ["team"])
    _same(
        _report(scenario, scenario.live_db, "namespaces"),
        _report(scenario, db, "namespaces"),
        ["namespace"],
    )
    teams = _report(scenario, scenario.live_db, "teams")
    assert teams["storage_cost"].sum() > 0 and teams["network_cost"].sum() > 0  # the whole bill, both ways
    for table, columns in (
        (m.QuotaSample, ("taken_at", "namespace", "name", "resource", "hard", "used")),
        (m.VolumeSample, VOLUME_COLUMNS),
        (m.HpaSample, HPA_COLUMNS),
        (
            m.ContainerSample,
            ("taken_at", "workload", "container", "restarts", "oom_kills", "memory_limit"),
        ),
    ):
        live, backfilled = _rows(scenario.live_db, table, columns), _rows(db, table, columns)
        assert len(live) > 20 and backfilled == live, table
    assert any(
        row[3] for row in _rows(db, m.ContainerSample, ("taken_at", "workload_id", "container", "restarts"))
    )
    recs = _report(scenario, scenario.live_db, "recommendations")
    assert recs["monthly_savings"].abs().sum() > 0  # right-sizing had usage to work on
    _same(recs, _report(scenario, db, "recommendations"), ["namespace", "workload", "container"])


def test_a_rerun_skips_what_is_stored_and_writes_only_what_is_missing(
    scenario: Scenario, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'resumed.db'}"
    half = instants()[len(instants()) // 2]
    code, out, err = _backfill(
        scenario, db, span=["--start", START.isoformat(), "--end", half.isoformat(), "--step", "5m"]
    )
    assert code == 0, err
    first = len(instants()) // 2 + 1
    assert f"{first} snapshots written, 0 already stored" in out
    code, out, err = _backfill(scenario, db)
    assert code == 0, err
    assert f"{len(instants()) - first} snapshots written, {first} already stored" in out
    code, out, err = _backfill(scenario, db)
    assert f"0 snapshots written, {len(instants())} already stored" in out
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(m.Snapshot)).scalar() == len(instants())
    finally:
        engine.dispose()


def test_instants_without_data_are_skipped_as_gaps_not_invented(scenario: Scenario, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'gaps.db'}"
    end = instants()[-1] + 6 * STEP  # half an hour past the data
    code, out, err = _backfill(
        scenario, db, span=["--start", START.isoformat(), "--end", end.isoformat(), "--step", "5m"]
    )
    assert code == 0, err
    assert f"{len(instants())} snapshots written, 0 already stored, 6 in gaps of the data skipped" in out


def test_the_selector_keeps_other_clusters_of_the_same_prometheus_out(
    scenario: Scenario, tmp_path: Path
) -> None:
    mine, theirs = f"sqlite:///{tmp_path / 'mine.db'}", f"sqlite:///{tmp_path / 'theirs.db'}"
    assert _backfill(scenario, mine)[0] == 0
    code, _, err = _backfill(scenario, theirs, cluster=scenario.other)
    assert code == 0, err
    live = _latest_workloads(scenario.live_db)
    assert _latest_workloads(mine) == live  # the other cluster's series did not join this one's
    other = _latest_workloads(theirs)
    assert other and other - live  # ... which had workloads of its own to add


HPA_COLUMNS = ("taken_at", "namespace", "name", "workload", "min_replicas", "max_replicas",
               "current_replicas", "desired_replicas", "metrics")  # fmt: skip
VOLUME_COLUMNS = (
    "taken_at",
    "volume",
    "capacity_bytes",
    "phase",
    "claim_namespace",
    "claim_name",
    "mounted_pods",
)


def _rows(db: str, table: type[m.Base], columns: tuple[str, ...]) -> list[tuple[object, ...]]:
    """The table's rows; column ``workload`` is the workload's namespace/kind/name (ids differ by store)."""
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            identity = m.Workload.namespace + "/" + m.Workload.kind + "/" + m.Workload.name
            workload = identity.label("workload")
            fields = [workload if c == "workload" else getattr(table, c) for c in columns]
            query = select(*fields)
            if "workload" in columns:
                query = query.join(m.Workload, m.Workload.id == table.workload_id)  # type: ignore[attr-defined]
            return [tuple(row) for row in conn.execute(query.order_by(*fields))]
    finally:
        engine.dispose()


def _latest_workloads(db: str) -> set[tuple[str, str]]:
    """The (namespace, workload) pairs of the newest snapshot's containers."""
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(m.Snapshot.id))).scalar()
            rows = conn.execute(
                select(m.Workload.namespace, m.Workload.name)
                .join(m.ContainerSample, m.ContainerSample.workload_id == m.Workload.id)
                .where(m.ContainerSample.snapshot_id == latest)
            )
            return {(str(ns), str(name)) for ns, name in rows}
    finally:
        engine.dispose()


@contextmanager
def _limited(scenario: Scenario, tmp_path: Path, *flags: str) -> Iterator[PrometheusServer]:
    """A Prometheus with ``flags`` (its limits) over a copy of the scenario's TSDB."""
    data = tmp_path / "tsdb"
    shutil.copytree(
        scenario.data, data, ignore=shutil.ignore_patterns("lock", "wal", "chunks_head", "queries.active")
    )
    with serve_prometheus(data, *flags) as server:
        yield server


def _queries(summary: str) -> int:
    """The number of queries a backfill's summary line reports."""
    return int(summary.split(" queries")[0].rsplit(" ", 1)[1])


def test_a_range_too_big_for_prometheus_is_read_in_parts(scenario: Scenario, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'halves.db'}"
    # an hour of the requests family is ~25,000 samples: over this limit, a few namespaces are not
    with _limited(scenario, tmp_path, "--query.max-samples=4000") as small:
        code, out, err = _backfill(scenario, db, url=small.url)
        assert code == 0, err
        whole = _queries(out)
        assert whole > 2 * 28  # the families of two hours, and the halves
    _same(_report(scenario, scenario.live_db, "teams"), _report(scenario, db, "teams"), ["team"])


def test_an_instant_too_big_for_prometheus_is_read_namespace_by_namespace(
    scenario: Scenario, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'namespaces.db'}"
    # one instant of the pod phases is over this limit; a namespace's hour is not
    with _limited(scenario, tmp_path, "--query.max-samples=1000") as small:
        code, out, err = _backfill(scenario, db, url=small.url)
        assert code == 0, err
        queries = _queries(out)
        assert queries > 2 * 28  # the families of two hours, and their parts
    _same(_report(scenario, scenario.live_db, "teams"), _report(scenario, db, "teams"), ["team"])
    _same(
        _report(scenario, scenario.live_db, "namespaces"), _report(scenario, db, "namespaces"), ["namespace"]
    )


def test_prometheus_query_timeout_is_read_in_halves_then_named(scenario: Scenario, tmp_path: Path) -> None:
    with _limited(scenario, tmp_path, "--query.timeout=1ms") as slow:
        code, _, err = _backfill(scenario, f"sqlite:///{tmp_path / 't.db'}", url=slow.url, selected=False)
    assert code == 4 and err.count("\n") == 1
    assert "rejected a query (" in err and ("deadline exceeded" in err or "timed out" in err)


def test_a_backfill_fills_the_past_of_a_cluster_collected_live_since(
    scenario: Scenario, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'joined.db'}"
    config = config_from_mapping({"rightsizing": {"min_hours": 1}})
    engine = open_store(db)
    try:
        later = instants()[len(instants()) // 2 :]
        for at in later:  # installed an hour in: live collections since, compacted as the collector does
            collect_once(
                scenario.fleet.source(scenario.cluster, at),
                engine,
                cluster=scenario.cluster,
                config=config,
                taken_at=at,
            )
            compact(engine, retention=config.retention, clusters=(scenario.cluster,), now=at)
    finally:
        engine.dispose()
    code, out, err = _backfill(scenario, db)
    assert code == 0, err
    assert f"{len(instants()) - len(later)} snapshots written, {len(later)} already stored" in out
    _same(_report(scenario, scenario.live_db, "teams"), _report(scenario, db, "teams"), ["team"])


def test_a_selector_that_matches_nothing_is_an_error_not_an_empty_success(
    scenario: Scenario, tmp_path: Path
) -> None:
    code, _, err = _backfill(scenario, f"sqlite:///{tmp_path / 'none.db'}", cluster="prod-nowhere")
    assert code == 4 and err.count("\n") == 1
    assert "no kube_pod_info or kube_node_status_capacity series for cluster prod-nowhere" in err
