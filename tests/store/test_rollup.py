"""Rollups and retention on real SQLite and PostgreSQL: totals kept to the second and the cent."""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, Table, create_engine, delete, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from capacity import histogram
from capacity.charges import with_cluster_costs, with_container_costs, with_node_costs
from capacity.config import Pricing, Retention
from capacity.pricing import key_prices
from capacity.records import ContainerSample, PriceKey, Resources, Snapshot, WorkloadKey
from capacity.reports import periods
from capacity.store import compaction, windows
from capacity.store import schema as m
from capacity.store.buckets import WindowPlan, plan_window
from capacity.store.compaction import compact
from capacity.store.engine import open_store, resolve_url
from capacity.store.grains import CLUSTER_COLUMNS, CONTAINER_COLUMNS, HISTOGRAMS, NODE_COLUMNS
from capacity.store.priced import price_keys
from capacity.store.snapshots import write_snapshot
from capacity.store.windows import (
    CLUSTER_WINDOW_COLUMNS,
    CONTAINER_WINDOW_COLUMNS,
    NODE_WINDOW_COLUMNS,
    cluster_periods,
    cluster_window,
    container_periods,
    container_window,
    node_periods,
    node_window,
    window_plans,
    workloads_in_window,
)
from tests import factories as f

NOMINAL = 900.0  # seconds: one snapshot every 15 minutes
STEP = timedelta(minutes=15)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
T0 = f.T0  # 2026-11-01 00:00 UTC
# alpha: 3 days; beta: 2.5 days, 7 minutes later, so the two clusters' watermarks differ.
CLUSTERS = {"alpha": (timedelta(0), 288), "beta": (timedelta(minutes=7), 240)}
FULL = (T0, T0 + 3 * DAY)
PARTIAL = (T0 + timedelta(hours=2, minutes=37), T0 + 2 * DAY + timedelta(hours=17, minutes=12))
KEEP_ALL = Retention(raw_days=3650, hourly_days=3650, daily_days=3650)
CONTAINER_SUMS = [c for c in CONTAINER_COLUMNS if not c.endswith("_max")]
CONTAINER_MAXIMA = [c for c in CONTAINER_COLUMNS if c.endswith("_max")]


# --- deterministic history with varying values ----------------------------------------------------


def taken_at(cluster: str, i: int) -> datetime:
    offset, _ = CLUSTERS[cluster]
    return T0 + offset + i * STEP + timedelta(seconds=(i * 37) % 90)  # jitter: uneven intervals


def indices(cluster: str) -> list[int]:
    # every 41st collection is missed: the next interval is capped at twice the nominal one
    return [i for i in range(CLUSTERS[cluster][1]) if i % 41 != 13]


def _container(i: int, j: int, known: bool) -> ContainerSample:
    replicas = 0 if (j == 3 and i % 11 == 0) else 1 + (i + j) % 4
    usage = [0.05 + 0.01 * ((i * 7 + j * 3 + k) % 40) for k in range(replicas)]
    hist: dict[int, float] = {}
    for u in usage:
        hist[histogram.bucket_of(u)] = hist.get(histogram.bucket_of(u), 0.0) + 1.0
    gib = f.GIB
    request = 0.25 * (j + 1)
    return ContainerSample(
        workload=WorkloadKey("shop" if j < 2 else "data", "Deployment", f"app-{j}"),
        container="main" if j != 2 else "sidecar",
        replicas=replicas,
        cpu_request=request * replicas,
        memory_request=gib * (j + 1) * replicas,
        gpu_request=float(replicas) if j == 0 and i % 2 == 0 else 0.0,
        cpu_limit=None,
        memory_limit=None if j == 1 else 2 * gib * (j + 1) * replicas,
        usage_replicas=replicas if known else 0,
        cpu_usage_sum=sum(usage) if known else None,
        memory_usage_sum=0.4 * gib * (1 + i % 5) * replicas if known else None,
        cpu_usage_max=(max(usage) if usage else None) if known else None,
        memory_usage_max=(0.4 * gib * (1 + i % 5) if replicas else None) if known else None,
        cpu_allocated=sum(max(request, u) for u in usage),
        memory_allocated=gib * (j + 1) * replicas,
        restarts=i // 50 + j,
        oom_kills=i // 97 if j == 2 else 0,
        pending_replicas=2 if replicas == 0 else i % 3 // 2,
        pending_cpu_request=0.5 if replicas == 0 else 0.0,
        pending_memory_request=gib if replicas == 0 else 0.0,
        cpu_usage_hist=hist if known else {},
        # on the first node (its price key; see history_snapshot)
        allocations={
            node_key(0): (
                sum(max(request, u) for u in usage),
                gib * (j + 1) * replicas,
                float(replicas) if j == 0 and i % 2 == 0 else 0.0,
            )
        },
    )


def node_key(n: int) -> PriceKey:
    """Node ``n``'s price key in the history: its own override price, a GPU on the third."""
    gpu = 1.0 if n == 2 else 0.0
    return PriceKey(
        "m6i.xlarge", "on-demand", "us-east-1", 0.192 + 0.01 * n + 0.95 * gpu, 4.0, 16 * f.GIB, gpu
    )


def history_snapshot(cluster: str, i: int) -> Snapshot:
    """Snapshot ``i`` of ``cluster``: usage sometimes unknown, nodes sometimes overcommitted."""
    snap = f.snapshot(cluster, taken_at(cluster, i), workloads=2, nodes=3)
    known = i % 23 != 7
    nodes = []
    for n, base in enumerate(snap.nodes):
        gpu = 1.0 if n == 2 else 0.0
        nodes.append(
            dataclasses.replace(
                base,
                capacity=Resources(4.0, 16 * f.GIB, gpu),
                requested=Resources(1.0 + (i % 5) * 0.5, 2 * f.GIB * (1 + i % 3), gpu * (i % 2)),
                usage=Resources(0.3 + 0.1 * ((i + n) % 9), f.GIB * (1 + (i + n) % 4), 0.0) if known else None,
                # allocated above capacity in some samples: idle must not go negative there
                allocated=Resources(((i * 3 + n * 5) % 11) * 0.5, ((i + n) % 5) * 5 * f.GIB, 0.0),
                overcommit=Resources(0.1 * (i % 2), 0.0, 0.0),
                price_key=node_key(n),
            )
        )
    snap.nodes = nodes
    snap.usage_known = known
    snap.containers = [_container(i, j, known) for j in range(4)]
    snap.workload_labels = {c.workload: {"app": c.workload.name} for c in snap.containers}
    return snap


def write_history(engine: Engine, cluster: str, numbers: list[int], *, newest: int) -> None:
    with engine.begin() as conn:  # one transaction for speed; each write is still whole
        for i in numbers:
            write_snapshot(
                conn, history_snapshot(cluster, i), nominal_interval_seconds=NOMINAL, pod_grain=i == newest
            )


# --- a template database per engine, written once and copied into each test's database -------------


def _copy(source: Engine, target: Engine, *, before: datetime | None = None) -> None:
    """Copy every row (facts only ``taken_at < before``) from ``source`` into ``target``."""
    with source.connect() as src, target.begin() as dst:
        for table in m.Base.metadata.sorted_tables:
            if before is not None and table.name == "pods":
                continue
            query = select(table)
            if before is not None and "taken_at" in table.c:
                query = query.where(table.c.taken_at < before)
            rows = [dict(r._mapping) for r in src.execute(query)]
            if rows:
                dst.execute(insert(table), rows)
        if target.dialect.name == "postgresql":
            for table in m.Base.metadata.sorted_tables:
                if "id" in table.c and table.c.id.primary_key:
                    seq = func.pg_get_serial_sequence(table.name, "id")
                    top = select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery()
                    dst.execute(select(func.setval(seq, top, False)))


class Templates:
    """One template database per engine, holding the whole raw history; built on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
        self._tmp = tmp_path_factory
        self._request = request
        self._urls: dict[str, str] = {}

    def url(self, db_url: str) -> str:
        dialect = "postgresql" if db_url.startswith("postgresql") else "sqlite"
        if dialect in self._urls:
            return self._urls[dialect]
        if dialect == "sqlite":
            # Written through the store, as a collector would.
            url = f"sqlite:///{self._tmp.mktemp('rollup') / 'template.db'}"
            engine = open_store(url)
            try:
                for cluster in CLUSTERS:
                    numbers = indices(cluster)
                    write_history(engine, cluster, numbers, newest=numbers[-1])
            finally:
                engine.dispose()
        else:
            # The same rows copied over (ten times faster than writing them again).
            server = self._request.getfixturevalue("pg_server")
            server.create_database(TEMPLATE_DB)
            url = server.url(TEMPLATE_DB)
            source, engine = open_store(self.url("sqlite:")), open_store(url)
            try:
                _copy(source, engine)
            finally:
                source.dispose()
                engine.dispose()
        self._urls[dialect] = url
        return url


TEMPLATE_DB = "rollup_template"


@pytest.fixture(scope="session")
def templates(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Templates]:
    # The PostgreSQL template lives as long as the throwaway server, which deletes it on exit.
    yield Templates(tmp_path_factory, request)


def _clone(template_url: str, db_url: str, request: pytest.FixtureRequest) -> None:
    """Make the (empty) database at ``db_url`` a copy of the template: a file copy, or TEMPLATE."""
    target = make_url(db_url).database
    assert target
    if db_url.startswith("sqlite"):
        source = make_url(template_url).database
        assert source
        shutil.copyfile(source, target)
        return
    server = request.getfixturevalue("pg_server")
    server.drop_database(target)
    with psycopg.connect(
        host=server.host, port=server.port, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(TEMPLATE_DB)
            )
        )


@pytest.fixture
def reference(db_url: str, templates: Templates) -> Iterator[Engine]:
    """The template: the whole raw history, never compacted (the truth to compare against).

    Unpooled, so that no idle connection keeps the PostgreSQL template from being cloned.
    """
    engine = create_engine(resolve_url(templates.url(db_url)), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_url: str, templates: Templates, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """This test's database, holding a copy of the whole history."""
    _clone(templates.url(db_url), db_url, request)
    eng = open_store(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def empty_engine(db_url: str) -> Iterator[Engine]:
    eng = open_store(db_url)
    yield eng
    eng.dispose()


# --- comparing windows ----------------------------------------------------------------------------


# Window reads with their money, as reports see them (capacity.charges, default prices).
def containers(engine: Engine, window: tuple[datetime, datetime]) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = container_window(conn, start=window[0], end=window[1])
        return with_container_costs(conn, frame, Pricing(), window, ())


def nodes(engine: Engine, window: tuple[datetime, datetime]) -> pd.DataFrame:
    with engine.connect() as conn:
        return with_node_costs(conn, node_window(conn, start=window[0], end=window[1]), Pricing(), window, ())


def clusters(engine: Engine, window: tuple[datetime, datetime]) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = cluster_window(conn, start=window[0], end=window[1])
        return with_cluster_costs(conn, frame, Pricing(), window, ())


def assert_same_clusters(got: pd.DataFrame, want: pd.DataFrame, *, rel: float = 1e-9) -> None:
    assert len(want) > 0
    assert got["cluster"].tolist() == want["cluster"].tolist()
    for name in CLUSTER_COLUMNS:
        assert got[name].tolist() == pytest.approx(want[name].tolist(), rel=rel, abs=1e-12), name


def snapshot_seconds(engine: Engine, window: tuple[datetime, datetime]) -> dict[str, float]:
    """Per cluster: the seconds of the snapshots taken in the window (from the snapshots table)."""
    snap, cl = m.Snapshot, m.Cluster
    with engine.connect() as conn:
        rows = conn.execute(
            select(cl.name, func.sum(snap.interval_seconds))
            .join(cl, cl.id == snap.cluster_id)
            .where(snap.taken_at >= window[0], snap.taken_at < window[1])
            .group_by(cl.name)
        )
        return {str(name): float(total) for name, total in rows}


def assert_same_containers(got: pd.DataFrame, want: pd.DataFrame, *, rel: float = 1e-9) -> None:
    key = ["cluster", "namespace", "kind", "workload", "container"]
    assert len(want) > 0
    assert got[key].values.tolist() == want[key].values.tolist()
    for name in CONTAINER_SUMS:
        assert got[name].tolist() == pytest.approx(want[name].tolist(), rel=rel, abs=1e-12), name
    for name in CONTAINER_MAXIMA:
        assert got[name].fillna(-1).tolist() == want[name].fillna(-1).tolist(), name
    for column in HISTOGRAMS:
        for a, b in zip(got[column], want[column], strict=True):
            assert a.keys() == b.keys(), column
            assert [a[k] for k in sorted(a)] == pytest.approx([b[k] for k in sorted(b)], rel=rel), column


def assert_same_nodes(got: pd.DataFrame, want: pd.DataFrame, *, rel: float = 1e-9) -> None:
    assert len(want) > 0
    assert got[["cluster", "node"]].values.tolist() == want[["cluster", "node"]].values.tolist()
    for name in NODE_COLUMNS:
        assert got[name].tolist() == pytest.approx(want[name].tolist(), rel=rel, abs=1e-12), name


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables: list[Table] = [  # type: ignore[assignment]
        m.ContainerRollup.__table__,
        m.NodeRollup.__table__,
        m.ClusterRollup.__table__,
        m.RollupWatermark.__table__,
    ]
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(map(repr, r)) for r in conn.execute(select(t))), key=repr) for t in tables
        }


def count(engine: Engine, model: type[m.Base], *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


# --- pure bucket math -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hour_until", "day_until"),
    [
        (PARTIAL[0], PARTIAL[1], T0 + 2 * DAY + 20 * HOUR, T0 + 2 * DAY),
        (FULL[0], FULL[1], T0 + 2 * DAY + 23 * HOUR, T0 + 2 * DAY),
        (PARTIAL[0], PARTIAL[1], None, None),
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50), T0 + DAY, T0 + DAY),
        (T0 + 5 * HOUR, T0 + 9 * HOUR, T0 + 7 * HOUR, None),
        (T0 + 5 * HOUR, T0 + 5 * HOUR, T0 + 7 * HOUR, None),
    ],
)
def test_plan_covers_the_window_exactly_once(
    start: datetime, end: datetime, hour_until: datetime | None, day_until: datetime | None
) -> None:
    plan = plan_window(start, end, hour_until=hour_until, day_until=day_until)
    pieces = sorted([*plan.days, *plan.hours, *plan.raw])
    covered = sum(((hi - lo) for lo, hi in pieces), timedelta(0))
    assert covered == max(end - start, timedelta(0))
    for (_, hi), (lo, _) in itertools.pairwise(pieces):
        assert hi == lo  # contiguous, no overlap
    assert all(lo.minute == lo.hour == 0 and hi.minute == hi.hour == 0 for lo, hi in plan.days)
    assert all(lo.minute == 0 and hi.minute == 0 for lo, hi in plan.hours)
    assert all(hi <= (day_until or start) for _, hi in plan.days)
    assert all(hi <= (hour_until or start) for _, hi in plan.hours)


def test_plan_of_a_partial_window_uses_every_tier() -> None:
    plan = plan_window(PARTIAL[0], PARTIAL[1], hour_until=T0 + 2 * DAY + 20 * HOUR, day_until=T0 + 2 * DAY)
    assert plan == WindowPlan(
        days=((T0 + DAY, T0 + 2 * DAY),),
        hours=((T0 + 3 * HOUR, T0 + DAY), (T0 + 2 * DAY, T0 + 2 * DAY + 17 * HOUR)),
        raw=((PARTIAL[0], T0 + 3 * HOUR), (T0 + 2 * DAY + 17 * HOUR, PARTIAL[1])),
    )


# --- rollups against raw --------------------------------------------------------------------------


def test_rollups_give_the_raw_totals(engine: Engine) -> None:
    windows = [FULL, PARTIAL, (T0 + DAY, T0 + 2 * DAY), (T0 + 2 * DAY + 3 * HOUR, T0 + 2 * DAY + 9 * HOUR)]
    raw_containers = [containers(engine, w) for w in windows]
    raw_nodes = [nodes(engine, w) for w in windows]
    raw_clusters = [clusters(engine, w) for w in windows]
    assert list(raw_containers[0].columns) == list(CONTAINER_WINDOW_COLUMNS)
    assert list(raw_clusters[0].columns) == list(CLUSTER_WINDOW_COLUMNS)
    # A cluster row is its nodes' rows summed, except seconds: the snapshots' own seconds.
    for window, per_node, per_cluster in zip(windows, raw_nodes, raw_clusters, strict=True):
        summed = per_node.groupby("cluster")[[c for c in NODE_COLUMNS if c != "seconds"]].sum()
        for name in summed.columns:
            assert per_cluster[name].tolist() == pytest.approx(summed[name].tolist(), rel=1e-9), name
        assert per_cluster["node_seconds"].tolist() == pytest.approx(
            per_node.groupby("cluster")["seconds"].sum().tolist(), rel=1e-12
        )
        want_seconds = snapshot_seconds(engine, window)
        assert dict(zip(per_cluster["cluster"], per_cluster["seconds"], strict=True)) == pytest.approx(
            want_seconds, rel=1e-12
        )
    assert list(raw_nodes[0].columns) == list(NODE_WINDOW_COLUMNS)
    assert set(raw_containers[0]["cluster"]) == {"alpha", "beta"}
    assert (raw_nodes[0]["cpu_idle_cost"] > 0).all() and (raw_containers[0]["cpu_cost"] > 0).all()

    result = compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    # alpha: hours up to its newest snapshot's hour (71 of them), days 1-2; beta: 59 hours, days 1-2
    assert (result.clusters, result.hours_rolled, result.days_rolled) == (2, 71 + 59, 4)
    assert sum(result.deleted.values()) == 0
    with engine.connect() as conn:
        plans = window_plans(conn, start=PARTIAL[0], end=PARTIAL[1])
    assert plans["alpha"].days and plans["alpha"].hours and plans["alpha"].raw
    assert plans["beta"].days and plans["beta"].hours and plans["beta"].raw

    for window, want_c, want_n, want_cl in zip(windows, raw_containers, raw_nodes, raw_clusters, strict=True):
        assert_same_containers(containers(engine, window), want_c)
        assert_same_nodes(nodes(engine, window), want_n)
        assert_same_clusters(clusters(engine, window), want_cl)

    # A day rollup is the sum of its hours, bucket by bucket.
    cr = m.ContainerRollup
    with engine.connect() as conn:
        days = {
            (r.cluster_id, r.bucket_start, r.workload_id, r.container): r.cpu_cost
            for r in conn.execute(select(cr).where(cr.tier == "day"))
        }
        hours: dict[tuple[Any, ...], float] = {}
        for r in conn.execute(select(cr).where(cr.tier == "hour")):
            day = r.bucket_start.replace(hour=0)
            key = (r.cluster_id, day, r.workload_id, r.container)
            if key in days:
                hours[key] = hours.get(key, 0.0) + r.cpu_cost
    assert days.keys() == hours.keys() and len(days) == 2 * 2 * 4
    for key, cost in days.items():
        assert cost == pytest.approx(hours[key], rel=1e-12)


@pytest.mark.parametrize("chunked", [False, True], ids=["one-read", "chunked"])
@pytest.mark.parametrize("compacted", [False, True], ids=["raw", "rolled-up"])
def test_period_reads_equal_one_window_read_per_period(
    engine: Engine, compacted: bool, chunked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunked:  # 2 clusters x 2 spans per period: one period per statement
        monkeypatch.setattr(windows, "MAX_SPANS", 4)
    if compacted:
        compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    spans = periods(PARTIAL[0], PARTIAL[1], "day")
    assert len(spans) == 3
    with engine.connect() as conn:
        got_c = container_periods(conn, periods=spans, histograms=True)
        got_n = node_periods(conn, periods=spans)
        got_cl = cluster_periods(conn, periods=spans, clusters=("beta",))
        for lo, hi in spans:
            label = pd.Timestamp(lo)
            part = got_c[got_c["period_start"] == label].drop(columns="period_start").reset_index(drop=True)
            assert_same_containers(part, container_window(conn, start=lo, end=hi))
            part = got_n[got_n["period_start"] == label].drop(columns="period_start").reset_index(drop=True)
            assert_same_nodes(part, node_window(conn, start=lo, end=hi))
            part = got_cl[got_cl["period_start"] == label].drop(columns="period_start").reset_index(drop=True)
            assert_same_clusters(part, cluster_window(conn, start=lo, end=hi, clusters=("beta",)))
            assert part["cluster"].tolist() == ["beta"]
    assert got_c["period_start"].is_monotonic_increasing
    assert list(got_c.columns) == ["period_start", *CONTAINER_WINDOW_COLUMNS]


@pytest.mark.parametrize("max_spans", [1_000, 128])
def test_compaction_of_more_buckets_than_a_compound_select_holds(
    empty_engine: Engine, max_spans: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One small node sampled hourly for 25 days: 600 hours fit in one compaction batch
    # (SQLite refuses a UNION of more than 500 SELECTs; the buckets go as one VALUES list),
    # or in five when a statement may carry only 128 buckets.
    monkeypatch.setattr(compaction, "MAX_SPANS", max_spans)
    with empty_engine.begin() as conn:
        for i in range(600):
            snap = f.snapshot("tiny", T0 + i * HOUR, workloads=1, nodes=1)
            write_snapshot(conn, snap, nominal_interval_seconds=3600.0, pod_grain=i == 599)
    result = compact(empty_engine, retention=KEEP_ALL, now=T0 + 25 * DAY)
    assert result.hours_rolled == 599  # the newest snapshot's hour is still filling
    window = (T0, T0 + 24 * DAY)
    with empty_engine.connect() as conn:
        plans = window_plans(conn, start=window[0], end=window[1])
        assert plans["tiny"].days == ((T0, T0 + 24 * DAY),)
        assert cluster_window(conn, start=window[0], end=window[1])["seconds"].tolist() == pytest.approx(
            [24 * 24 * 3600.0]
        )


def test_a_long_window_reads_daily_rows_not_samples(engine: Engine) -> None:
    compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    with engine.connect() as conn:
        plans = window_plans(conn, start=T0, end=T0 + 2 * DAY)
    assert plans["alpha"] == WindowPlan(days=((T0, T0 + 2 * DAY),), hours=(), raw=())
    assert plans["beta"].days == ((T0, T0 + 2 * DAY),)
    # Removing every raw sample and hour of those days changes nothing.
    with engine.begin() as conn:
        want = container_window(conn, start=T0, end=T0 + 2 * DAY)
        for model in (m.ContainerSample, m.NodeSample):
            conn.execute(model.__table__.delete().where(model.taken_at < T0 + 2 * DAY))  # type: ignore[attr-defined]
        conn.execute(m.ContainerRollup.__table__.delete().where(m.ContainerRollup.tier == "hour"))  # type: ignore[attr-defined]
        got = container_window(conn, start=T0, end=T0 + 2 * DAY)
    assert_same_containers(got, want, rel=0)


def test_compact_twice_changes_nothing(engine: Engine) -> None:
    first = compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    before = dump(engine)
    second = compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    assert first.rollup_rows > 0
    assert (second.hours_rolled, second.days_rolled, second.rollup_rows) == (0, 0, 0)
    assert dump(engine) == before


def test_compaction_is_incremental(db_url: str, reference: Engine) -> None:
    cut = T0 + DAY + 20 * HOUR
    engine = open_store(db_url)
    try:
        _copy(reference, engine, before=cut)
        first = compact(engine, retention=KEEP_ALL, now=cut)
        assert first.days_rolled == 2  # day 1 of each cluster
        before = dump(engine)

        # Collection goes on for 6 more hours; compaction after it adds only the new buckets.
        for cluster in CLUSTERS:
            numbers = [i for i in indices(cluster) if cut <= taken_at(cluster, i) < cut + 6 * HOUR]
            write_history(engine, cluster, numbers, newest=numbers[-1])
        second = compact(engine, retention=KEEP_ALL, now=cut + 6 * HOUR)
        after = dump(engine)
        assert second.hours_rolled == 2 * 6 and second.days_rolled == 2  # day 2 of each cluster
        for table in ("container_rollups", "node_rollups"):
            assert set(before[table]) <= set(after[table])  # nothing earlier was touched
            new_buckets = {(row[0], row[2]) for row in set(after[table]) - set(before[table])}
            # the 6 hours (both clusters), the 6-hour block 18:00-24:00 of day 2, day 2, and the
            # 4-day block (aligned on the epoch: Oct 30 - Nov 3) it completes
            assert len(new_buckets) == 6 + 1 + 1 + 1
            assert {tier for tier, _ in new_buckets} == {"'hour'", "'h6'", "'day'", "'d4'"}

        window = (T0, cut + 6 * HOUR)
        assert_same_containers(containers(engine, window), containers(reference, window))
        assert_same_nodes(nodes(engine, window), nodes(reference, window))
    finally:
        engine.dispose()


# --- retention ------------------------------------------------------------------------------------


def test_raw_rows_go_only_once_rolled_up_and_money_stays(engine: Engine, reference: Engine) -> None:
    want_c, want_n = containers(reference, FULL), nodes(reference, FULL)
    samples = count(engine, m.ContainerSample)

    result = compact(engine, retention=Retention(raw_days=1), now=T0 + 3 * DAY)
    assert result.deleted["container_samples"] > 0 and result.deleted["snapshots"] > 0
    assert count(engine, m.ContainerSample) == samples - result.deleted["container_samples"]
    assert count(engine, m.ContainerSample, m.ContainerSample.taken_at < T0 + 2 * DAY) == 0
    assert count(engine, m.Snapshot, m.Snapshot.taken_at < T0 + 2 * DAY) == 0
    assert count(engine, m.ContainerSample, m.ContainerSample.taken_at >= T0 + 2 * DAY) > 0
    assert_same_containers(containers(engine, FULL), want_c)
    assert_same_nodes(nodes(engine, FULL), want_n)

    # Much later: every raw row already summed goes; what is left is the hour that was still
    # filling at the last compaction, and the newest snapshot, which the pods table points at.
    with engine.connect() as conn:
        pod_snapshots = set(conn.execute(select(m.Pod.snapshot_id).distinct()).scalars())
    compact(engine, retention=Retention(raw_days=1, hourly_days=3650, daily_days=3650), now=T0 + 400 * DAY)
    wm = m.RollupWatermark
    with engine.connect() as conn:
        marks = dict(conn.execute(select(wm.cluster_id, wm.complete_until).where(wm.tier == "hour")).all())
        kept = conn.execute(select(m.Snapshot.id, m.Snapshot.cluster_id, m.Snapshot.taken_at)).all()
        sampled = conn.execute(select(m.ContainerSample.cluster_id, m.ContainerSample.taken_at)).all()
    assert pod_snapshots and pod_snapshots <= {row.id for row in kept}
    assert kept and all(row.taken_at >= marks[row.cluster_id] for row in kept)
    assert sampled and all(t >= marks[cid] for cid, t in sampled)
    assert_same_containers(containers(engine, FULL), want_c)
    assert_same_nodes(nodes(engine, FULL), want_n)


def test_hourly_rollups_go_only_once_rolled_into_days(engine: Engine, reference: Engine) -> None:
    want_c, want_n = containers(reference, FULL), nodes(reference, FULL)
    result = compact(engine, retention=Retention(raw_days=1, hourly_days=1), now=T0 + 3 * DAY)
    cr = m.ContainerRollup
    assert result.deleted["container_rollups:hour"] > 0 and result.deleted["node_rollups:hour"] > 0
    assert count(engine, cr, cr.tier == "hour", cr.bucket_start < T0 + 2 * DAY) == 0
    assert count(engine, cr, cr.tier == "day") == 2 * 2 * 4
    assert_same_containers(containers(engine, FULL), want_c)
    assert_same_nodes(nodes(engine, FULL), want_n)

    # Far later, with the daily tier kept: hours before the day watermark go, hours after stay.
    later = compact(engine, retention=Retention(raw_days=1, hourly_days=1), now=T0 + 50 * DAY)
    assert later.deleted.get("container_rollups:day", 0) == 0
    assert count(engine, cr, cr.tier == "hour", cr.bucket_start >= T0 + 2 * DAY) > 0
    assert_same_containers(containers(engine, FULL), want_c)

    # Daily retention is the end of the line.
    last = compact(engine, retention=Retention(raw_days=1, hourly_days=1, daily_days=1), now=T0 + 50 * DAY)
    assert last.deleted["container_rollups:day"] == 2 * 2 * 4
    assert count(engine, cr, cr.tier == "day") == 0


# --- idle and edge cases --------------------------------------------------------------------------


def test_idle_is_never_negative_per_node_and_sample(engine: Engine) -> None:
    ns, snap = m.NodeSample, m.Snapshot
    with engine.connect() as conn:
        rows = conn.execute(
            select(ns.cpu_capacity, ns.cpu_allocated, ns.memory_capacity, ns.memory_allocated,
                   ns.price_key_id, snap.interval_seconds)
            .join(snap, snap.id == ns.snapshot_id)
            .where(ns.taken_at >= FULL[0], ns.taken_at < FULL[1])
        ).all()  # fmt: skip
        keys = price_keys(conn, sorted({r.price_key_id for r in rows}))
    unit = {key_id: key_prices(Pricing(), key) for key_id, key in keys.items()}
    assert any(r.cpu_allocated > r.cpu_capacity for r in rows)
    assert any(r.memory_allocated > r.memory_capacity for r in rows)
    cpu_idle = sum(
        max(0.0, (r.cpu_capacity - r.cpu_allocated) * unit[r.price_key_id].cpu_core_hourly)
        * r.interval_seconds
        / 3600
        for r in rows
    )
    mem_idle = sum(
        max(0.0, (r.memory_capacity - r.memory_allocated) * unit[r.price_key_id].memory_byte_hourly)
        * r.interval_seconds
        / 3600
        for r in rows
    )
    naive = sum(
        (r.cpu_capacity - r.cpu_allocated) * unit[r.price_key_id].cpu_core_hourly * r.interval_seconds / 3600
        for r in rows
    )
    assert naive < cpu_idle

    compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    got = nodes(engine, FULL)
    assert got["cpu_idle_cost"].sum() == pytest.approx(cpu_idle, rel=1e-9)
    assert got["memory_idle_cost"].sum() == pytest.approx(mem_idle, rel=1e-9)
    with engine.connect() as conn:
        worst = conn.execute(
            select(func.min(m.NodePriceRollup.cpu_idle_cs), func.min(m.NodePriceRollup.memory_idle_bs))
        ).one()
    assert min(worst) >= 0.0


def test_a_single_overcommitted_node_sample(empty_engine: Engine) -> None:
    snap = f.snapshot("solo", T0, workloads=1, nodes=1)
    snap.nodes = [dataclasses.replace(snap.nodes[0], allocated=Resources(6.0, 20 * f.GIB, 0.0))]
    with empty_engine.begin() as conn:
        write_snapshot(conn, snap, nominal_interval_seconds=NOMINAL)
        write_snapshot(
            conn, f.snapshot("solo", T0 + 2 * HOUR, workloads=1, nodes=1), nominal_interval_seconds=NOMINAL
        )
    with empty_engine.begin() as conn:  # inside the caller's transaction
        compact(conn, retention=KEEP_ALL, now=T0 + 3 * HOUR)
        row = conn.execute(select(m.NodeRollup).where(m.NodeRollup.bucket_start == T0)).one()
        priced = conn.execute(select(m.NodePriceRollup).where(m.NodePriceRollup.bucket_start == T0)).one()
    assert (priced.cpu_idle_cs, priced.memory_idle_bs) == (0.0, 0.0)
    assert priced.cpu_capacity_cs == pytest.approx(4.0 * NOMINAL)
    assert row.cpu_allocated_cs == pytest.approx(6.0 * NOMINAL)
    [billed] = nodes(empty_engine, (T0, T0 + HOUR)).to_dict("records")
    unit = key_prices(Pricing(), f.node_key())
    assert billed["cpu_cost"] == pytest.approx(4.0 * unit.cpu_core_hourly * NOMINAL / 3600)
    assert (billed["cpu_idle_cost"], billed["memory_idle_cost"]) == (0.0, 0.0)


def test_window_columns_are_the_rollup_columns() -> None:
    not_summed = {"tier", "cluster_id", "bucket_start", *HISTOGRAMS}
    container_table = m.ContainerRollup.__table__.columns.keys()  # type: ignore[attr-defined]
    node_table = m.NodeRollup.__table__.columns.keys()  # type: ignore[attr-defined]
    assert set(CONTAINER_COLUMNS) == set(container_table) - not_summed - {"workload_id", "container"}
    assert set(NODE_COLUMNS) == set(node_table) - not_summed - {"node_id"}
    assert set(CONTAINER_WINDOW_COLUMNS) >= set(container_table) - {"tier", "bucket_start"}
    assert set(NODE_WINDOW_COLUMNS) >= set(node_table) - {"tier", "bucket_start"}


def test_a_failed_step_leaves_a_consistent_state(
    engine: Engine, reference: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = compaction._roll

    def fail_on_days(conn: Any, cid: int, tier: Any, starts: list[datetime]) -> int:
        written = real(conn, cid, tier, starts)
        if tier == "day":
            raise RuntimeError("disk full")
        return written

    monkeypatch.setattr(compaction, "_roll", fail_on_days)
    with pytest.raises(RuntimeError, match="disk full"):
        compact(engine, retention=Retention(raw_days=1), now=T0 + 3 * DAY)
    cr, wm = m.ContainerRollup, m.RollupWatermark
    # The first cluster's hours landed with their watermark; its failed day step left nothing.
    assert count(engine, cr, cr.tier == "day") == 0
    assert count(engine, wm, wm.tier == "day") == 0
    assert count(engine, wm, wm.tier == "hour") == 1
    assert count(engine, cr, cr.tier == "hour") > 0
    assert count(engine, m.ContainerSample) == count(reference, m.ContainerSample)  # nothing deleted

    monkeypatch.setattr(compaction, "_roll", real)
    result = compact(engine, retention=Retention(raw_days=1), now=T0 + 3 * DAY)
    assert result.days_rolled == 4 and result.hours_rolled == 59  # alpha's hours were already done
    assert result.deleted["container_samples"] > 0
    assert_same_containers(containers(engine, FULL), containers(reference, FULL))


def test_empty_store_and_cluster_filter(empty_engine: Engine) -> None:
    result = compact(empty_engine, retention=KEEP_ALL, now=T0)
    assert (result.clusters, result.hours_rolled, result.days_rolled) == (0, 0, 0)
    got = containers(empty_engine, FULL)
    assert got.empty and list(got.columns) == list(CONTAINER_WINDOW_COLUMNS)
    assert nodes(empty_engine, FULL).empty

    with empty_engine.begin() as conn:
        for cluster in ("a", "b"):
            write_snapshot(conn, f.snapshot(cluster, T0), nominal_interval_seconds=NOMINAL)
    with empty_engine.connect() as conn:
        only_a = container_window(conn, start=T0, end=T0 + HOUR, clusters=("a",))
        only_a = with_container_costs(conn, only_a, Pricing(), (T0, T0 + HOUR), ("a",))
        none = node_window(conn, start=T0, end=T0 + HOUR, clusters=("nope",))
    assert set(only_a["cluster"]) == {"a"} and len(only_a) == 3 and none.empty
    with empty_engine.begin() as conn:
        write_snapshot(conn, f.snapshot("a", T0 + HOUR), nominal_interval_seconds=NOMINAL)
        write_snapshot(conn, f.snapshot("b", T0 + HOUR), nominal_interval_seconds=NOMINAL)
    with empty_engine.connect() as conn:  # outside a transaction: compact commits its own steps
        assert compact(conn, retention=KEEP_ALL, now=T0, clusters=("a",)).hours_rolled == 1
    assert count(empty_engine, m.RollupWatermark, m.RollupWatermark.tier == "hour") == 1
    assert only_a["seconds"].tolist() == [NOMINAL] * 3
    # 3 containers of 2 replicas at 0.5 cores each, on the factory node's price
    cpu_hourly = key_prices(Pricing(), f.node_key()).cpu_core_hourly
    assert math.isclose(only_a["cpu_cost"].sum(), 3 * 1.0 * cpu_hourly * NOMINAL / 3600)
    with pytest.raises(ValueError, match="naive"):
        plan_window(datetime(2026, 1, 1), datetime(2026, 1, 2), hour_until=None, day_until=None)


def test_a_read_of_some_sums_is_those_columns_of_the_full_read(engine: Engine) -> None:
    compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    sums = ("cpu_cost", "memory_request_bs", "replica_seconds")
    with engine.connect() as conn:
        full = container_window(conn, start=PARTIAL[0], end=PARTIAL[1])
        some = container_window(conn, start=PARTIAL[0], end=PARTIAL[1], histograms=False, sums=sums)
    keys = list(CONTAINER_WINDOW_COLUMNS[:7])
    assert list(some.columns) == [*keys, *sums, *HISTOGRAMS]
    pd.testing.assert_frame_equal(some[[*keys, *sums]], full[[*keys, *sums]], check_exact=False, rtol=1e-12)
    for column in HISTOGRAMS:
        assert all(h == {} for h in some[column]) and any(h for h in full[column])


@pytest.mark.parametrize("chunked", [False, True], ids=["one-statement", "chunked"])
@pytest.mark.parametrize("compacted", [False, True], ids=["raw", "rolled-up"])
def test_workloads_in_a_window_are_those_with_sums_there(
    engine: Engine, compacted: bool, chunked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunked:  # one SELECT per UNION, two ids per IN list
        monkeypatch.setattr(windows, "COMPOUND_SELECTS", 1)
        monkeypatch.setattr(windows, "MAX_SPANS", 2)
    if compacted:
        compact(engine, retention=KEEP_ALL, now=T0 + 3 * DAY)
    with engine.connect() as conn:
        for window, clusters in ((PARTIAL, ()), ((T0 + DAY, T0 + DAY + HOUR), ("beta",)), ((T0, T0), ())):
            ids = workloads_in_window(conn, start=window[0], end=window[1], clusters=clusters)
            sums = container_window(conn, start=window[0], end=window[1], clusters=clusters, histograms=False)
            assert ids["workload_id"].tolist() == sorted(set(sums["workload_id"]))
            assert len(ids) > 0 or window[0] == window[1]
            pairs = set(zip(sums["workload_id"], sums["namespace"], strict=True))
            assert set(zip(ids["workload_id"], ids["namespace"], strict=True)) == pairs
    assert len(pairs) == 0  # the empty window


# --- late snapshots -------------------------------------------------------------------------------

LATE = 13  # a collection `indices` skips: written here after its hour and day are rolled up


def test_a_late_snapshot_is_rolled_into_its_hour_and_day(engine: Engine) -> None:
    now = T0 + 3 * DAY
    compact(engine, retention=KEEP_ALL, now=now)
    assert LATE not in indices("alpha")
    write_history(engine, "alpha", [LATE], newest=-1)
    result = compact(engine, retention=KEEP_ALL, now=now)
    assert result.late_hours == 1
    assert (result.hours_rolled, result.days_rolled) == (1, 1)  # its hour, and its day from the hours
    late = {w: (containers(engine, w), nodes(engine, w), clusters(engine, w)) for w in (FULL, PARTIAL)}
    again = compact(engine, retention=KEEP_ALL, now=now)
    assert (again.hours_rolled, again.days_rolled, again.late_hours) == (0, 0, 0)

    # the same rollups as from scratch, where the snapshot is one like the others
    with engine.begin() as conn:
        for model in (m.ContainerRollup, m.NodeRollup, m.ClusterRollup, m.RollupWatermark):
            conn.execute(delete(model))
    compact(engine, retention=KEEP_ALL, now=now)
    for window, (got_containers, got_nodes, got_clusters) in late.items():
        assert_same_containers(got_containers, containers(engine, window))
        assert_same_nodes(got_nodes, nodes(engine, window))
        assert_same_clusters(got_clusters, clusters(engine, window))


def test_a_snapshot_later_than_raw_retention_leaves_its_hour_as_it_was(engine: Engine) -> None:
    """Its hour's other raw rows are gone: rolling it again would lose them."""
    now = T0 + 3 * DAY
    short = Retention(raw_days=1, hourly_days=3650, daily_days=3650)
    compact(engine, retention=short, now=now)  # raw rows of the first two days are gone
    before = dump(engine)
    write_history(engine, "alpha", [LATE], newest=-1)
    result = compact(engine, retention=short, now=now)
    assert result.late_hours == 0
    assert dump(engine) == before  # and retention deleted the late rows
    assert count(engine, m.Snapshot, m.Snapshot.taken_at == taken_at("alpha", LATE)) == 0


def test_a_late_snapshot_and_new_hours_in_one_compaction(db_url: str, reference: Engine) -> None:
    """A late hour and the hours completed since the last run are rolled in one run (a backfill
    beside a live collector): the hours between them, rolled before, stay as they were."""
    cut = T0 + 2 * DAY + 6 * HOUR
    engine = open_store(db_url)
    try:
        _copy(reference, engine, before=cut)
        with engine.begin() as conn:  # alpha's LATE snapshot is missing, as if never collected
            late_at = taken_at("alpha", 2)
            conn.execute(delete(m.ContainerSample).where(m.ContainerSample.taken_at == late_at))
            conn.execute(delete(m.ContainerAllocation).where(m.ContainerAllocation.taken_at == late_at))
            conn.execute(delete(m.NodeSample).where(m.NodeSample.taken_at == late_at))
            conn.execute(delete(m.QuotaSample).where(m.QuotaSample.taken_at == late_at))
            conn.execute(delete(m.Snapshot).where(m.Snapshot.taken_at == late_at))
        compact(engine, retention=KEEP_ALL, now=cut)
        write_history(engine, "alpha", [2], newest=-1)  # the late one, in alpha's first hour
        for cluster in CLUSTERS:  # and three new hours
            numbers = [i for i in indices(cluster) if cut <= taken_at(cluster, i) < cut + 3 * HOUR]
            write_history(engine, cluster, numbers, newest=numbers[-1])
        result = compact(engine, retention=KEEP_ALL, now=cut + 3 * HOUR)
        assert result.late_hours == 1
        window = (T0, cut + 3 * HOUR)
        assert_same_containers(containers(engine, window), containers(reference, window))
        assert_same_nodes(nodes(engine, window), nodes(reference, window))
        assert_same_clusters(clusters(engine, window), clusters(reference, window))
    finally:
        engine.dispose()
