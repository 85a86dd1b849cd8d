"""Capacity and Data health: the queries on SQLite and PostgreSQL, the figures, and both pages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from capacity.config import Config
from capacity.records import PodRecord, Resources, Snapshot
from capacity.store import health, inventory
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from dashboard import capacity_figures, charts, figures, filters, numbers
from dashboard.views import capacity as capacity_view
from tests import factories as f
from tests.conftest import Fleet

GIB = f.GIB
NOW = f.T0 + timedelta(hours=2)


# --- seeded fleets -------------------------------------------------------------------------------


def fleet_snapshot(taken_at: datetime, *, warnings: list[str] | None = None) -> Snapshot:
    """Return prod: two on-demand 'general' nodes, one cordoned spot node, one pending pod."""
    base = f.snapshot("prod", taken_at, workloads=3, nodes=2)
    spot = dataclasses.replace(
        f.node("prod-spot-0", requested_cpu=2.0),
        capacity_type="spot",
        node_pool="spot",
        instance_type="m5.xlarge",
        unschedulable=True,
    )
    pending = [
        dataclasses.replace(f.pod("batch", "etl", f"etl-{i}", None), request=Resources(2.0, 4 * GIB, 0.0))
        for i in range(2)
    ] + [f.pod("shop", "web-0", "web-0-pending", None)]
    return dataclasses.replace(
        base,
        nodes=[*base.nodes, spot],
        pods=[*base.pods, *pending],
        warnings=warnings if warnings is not None else [],
    )


def write(engine: Engine, snap: Snapshot) -> None:
    with engine.begin() as conn:
        write_snapshot(conn, snap, nominal_interval_seconds=300)


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fleet(store: Engine) -> Engine:
    """prod every 5 minutes from T0 with one 30-minute gap, newest at T0+1h; staging once at T0."""
    times = [f.T0 + timedelta(minutes=5 * i) for i in range(13) if i not in (4, 5, 6, 7, 8)]
    # An older snapshot with other numbers: only the newest may count.
    write(store, dataclasses.replace(f.snapshot("prod", times[0], workloads=1, nodes=5), warnings=[]))
    for at in times[1:-1]:
        write(store, dataclasses.replace(f.snapshot("prod", at), warnings=[]))
    write(
        store,
        fleet_snapshot(
            times[-1],
            warnings=[
                "pod metrics: metrics.k8s.io unavailable (404); usage unknown (is metrics-server installed?)",
                "replicasets: forbidden (403); owners resolved by naming convention",
                "pod kube-system/broken: malformed cpu request 'lots' ignored",
            ],
        ),
    )
    write(store, dataclasses.replace(f.snapshot("staging", f.T0, workloads=1, nodes=1), warnings=[]))
    return store


# --- inventory -----------------------------------------------------------------------------------


def test_node_pools_reads_only_the_latest_snapshot(fleet: Engine) -> None:
    with fleet.connect() as conn:
        pools = inventory.node_pools(conn)
    assert list(pools.columns) == inventory.POOL_COLUMNS
    assert list(zip(pools["cluster"], pools["pool"], strict=True)) == [
        ("prod", "general"),
        ("prod", "spot"),
        ("staging", "general"),
    ]
    general = pools.iloc[0]
    assert general["nodes"] == 2 and general["spot_nodes"] == 0 and general["spot_share"] == 0.0
    assert general["instance_types"] == "m6i.xlarge ×2"
    assert general["cpu_allocatable"] == pytest.approx(7.8)
    assert general["cpu_requested"] == pytest.approx(2.0)
    assert general["cpu_used"] == pytest.approx(1.0)
    assert general["memory_allocatable"] == pytest.approx(30 * GIB)
    assert general["memory_requested"] == pytest.approx(4 * GIB)
    assert general["cpu_headroom"] == pytest.approx(5.8)
    assert general["memory_headroom"] == pytest.approx(26 * GIB)
    assert general["largest_cpu_free"] == pytest.approx(2.9)
    assert general["hourly_cost"] == pytest.approx(0.384)
    spot = pools.iloc[1]
    assert spot["nodes"] == 1 and spot["spot_nodes"] == 1 and spot["spot_share"] == 1.0
    assert spot["cordoned"] == 1 and spot["not_ready"] == 0
    # A cordoned node takes no new pods: no headroom, whatever it has free.
    assert spot["cpu_headroom"] == 0.0 and spot["largest_cpu_free"] == 0.0
    assert spot["instance_types"] == "m5.xlarge ×1"


def test_node_pools_filter_by_cluster_and_unknown_usage(store: Engine) -> None:
    write(store, dataclasses.replace(f.snapshot("prod"), usage_known=False))
    unknown = dataclasses.replace(
        f.snapshot("dev", nodes=1),
        nodes=[dataclasses.replace(f.node("dev-node-0"), usage=None, node_pool=None, instance_type=None)],
    )
    write(store, unknown)
    with store.connect() as conn:
        dev = inventory.node_pools(conn, clusters=["dev"])
        headroom = inventory.pool_headroom(conn, clusters=("prod",))
        nothing = inventory.node_pools(conn, clusters=["nope"])
    assert list(dev["cluster"]) == ["dev"]
    assert dev.iloc[0]["pool"] == inventory.NO_POOL
    assert dev.iloc[0]["instance_types"] == f"{inventory.NO_INSTANCE_TYPE} ×1"
    assert pd.isna(dev.iloc[0]["cpu_used"]) and pd.isna(dev.iloc[0]["memory_used"])
    assert list(headroom.columns)[:4] == ["cluster", "pool", "nodes", "cpu_headroom"]
    assert headroom.iloc[0]["cpu_headroom"] == pytest.approx(5.8)
    assert nothing.empty and list(nothing.columns) == inventory.POOL_COLUMNS


def test_node_packing_per_node_fullest_first(fleet: Engine) -> None:
    with fleet.connect() as conn:
        packing = inventory.node_packing(conn, clusters=["prod"])
    assert list(packing.columns) == inventory.PACKING_COLUMNS
    assert list(packing["node"]) == ["prod-spot-0", "prod-node-0", "prod-node-1"]
    spot, first, second = packing.to_dict("records")
    assert spot["cpu_requested_share"] == pytest.approx(2.0 / 3.9)
    assert spot["cordoned"] is True and spot["pods"] == 0
    assert first["cpu_requested_share"] == pytest.approx(1.0 / 3.9)
    assert first["cpu_used_share"] == pytest.approx(0.5 / 3.9)
    assert first["memory_requested_share"] == pytest.approx(2 / 15)
    assert first["memory_used_share"] == pytest.approx(1 / 15)
    # 3 workloads × 2 replicas spread over 2 nodes; pending pods are on no node.
    assert first["pods"] + second["pods"] == 6


def test_node_packing_counts_pods_per_cluster_and_filters_clusters(store: Engine) -> None:
    """Two clusters with the same node names: pods, latest snapshot and filter stay per cluster."""

    def bound(node: str, count: int, phase: str = "Running") -> list[PodRecord]:
        return [
            dataclasses.replace(f.pod("shop", "web-0", f"{node}-{phase}-{i}", node), phase=phase)
            for i in range(count)
        ]

    # blue's older snapshot has a third node; only its newest snapshot may count.
    write(store, dataclasses.replace(f.snapshot("blue", f.T0, nodes=3), warnings=[]))
    blue = f.snapshot("blue", f.T0 + timedelta(hours=1), nodes=2)
    green = f.snapshot("green", f.T0, nodes=2)
    shared = ["node-0", "node-1"]
    blue_nodes = [dataclasses.replace(n, name=name) for n, name in zip(blue.nodes, shared, strict=True)]
    green_nodes = [
        dataclasses.replace(n, name=name, usage=None, requested=Resources(3.0, 6 * GIB, 0.0))
        for n, name in zip(green.nodes, shared, strict=True)
    ]
    blue_pods = [
        *bound("node-0", 2),
        *bound("node-0", 1, "Succeeded"),
        *bound("node-0", 1, "Failed"),
        *bound("node-1", 1),
        f.pod("shop", "web-0", "web-0-pending", None),
    ]
    write(store, dataclasses.replace(blue, nodes=blue_nodes, pods=blue_pods, warnings=[]))
    green_pods = [*bound("node-0", 3), *bound("node-1", 1, "Succeeded")]
    write(store, dataclasses.replace(green, nodes=green_nodes, pods=green_pods, warnings=[]))

    def pods(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
        return {(r["cluster"], r["node"]): r["pods"] for r in frame.to_dict("records")}

    with store.connect() as conn:
        everything = inventory.node_packing(conn)
        only_blue = inventory.node_packing(conn, clusters=["blue", "nope"])
        only_green = inventory.node_packing(conn, clusters=("green",))
        nothing = inventory.node_packing(conn, clusters=["nope"])
    expected = {("blue", "node-0"): 2, ("blue", "node-1"): 1, ("green", "node-0"): 3, ("green", "node-1"): 0}
    assert pods(everything) == expected
    assert pods(only_blue) == {k: v for k, v in expected.items() if k[0] == "blue"}
    assert pods(only_green) == {k: v for k, v in expected.items() if k[0] == "green"}
    # green's nodes are fuller (3 of 3.9 cores requested) and come first; usage unknown is NaN.
    assert list(zip(everything["cluster"], everything["node"], strict=True)) == [
        ("green", "node-0"),
        ("green", "node-1"),
        ("blue", "node-0"),
        ("blue", "node-1"),
    ]
    assert everything["cpu_used_share"].isna().tolist() == [True, True, False, False]
    assert everything["pods"].dtype == "int64" and everything["ready"].dtype == bool
    filtered = pd.concat([only_green, only_blue], ignore_index=True)
    pd.testing.assert_frame_equal(filtered, everything)
    assert nothing.empty and list(nothing.columns) == inventory.PACKING_COLUMNS


def test_pending_demand_groups_unscheduled_pods_by_workload(fleet: Engine) -> None:
    with fleet.connect() as conn:
        pending = inventory.pending_demand(conn)
        staging = inventory.pending_demand(conn, clusters=["staging"])
    assert list(pending.columns) == inventory.PENDING_COLUMNS
    rows = pending.to_dict("records")
    assert rows == [
        {
            "cluster": "prod",
            "namespace": "batch",
            "kind": "Deployment",
            "workload": "etl",
            "pods": 2,
            "cpu_requested": pytest.approx(4.0),
            "memory_requested": pytest.approx(8 * GIB),
        },
        {
            "cluster": "prod",
            "namespace": "shop",
            "kind": "Deployment",
            "workload": "web-0",
            "pods": 1,
            "cpu_requested": pytest.approx(0.5),
            "memory_requested": pytest.approx(GIB),
        },
    ]
    assert staging.empty and list(staging.columns) == inventory.PENDING_COLUMNS


# --- health --------------------------------------------------------------------------------------


def test_freshness_ages_and_intervals(fleet: Engine) -> None:
    with fleet.connect() as conn:
        fresh = health.freshness(conn, now=NOW)
    assert list(fresh.columns) == health.FRESHNESS_COLUMNS
    prod, staging = fresh.to_dict("records")
    assert prod["cluster"] == "prod" and prod["snapshots"] == 8
    assert prod["latest_snapshot"] == pd.Timestamp(f.T0 + timedelta(hours=1))
    assert prod["age_seconds"] == 3600.0
    assert prod["median_interval_seconds"] == 300.0
    assert prod["nodes"] == 3 and prod["pods"] == 6 and prod["pending_pods"] == 3
    assert prod["warnings"] == 3
    assert staging["snapshots"] == 1 and staging["age_seconds"] == 7200.0
    assert pd.isna(staging["median_interval_seconds"])


def test_snapshots_per_day_is_zero_filled(fleet: Engine) -> None:
    with fleet.connect() as conn:
        per_day = health.snapshots_per_day(conn, days=3, now=NOW, clusters=["prod"])
    assert list(per_day.columns) == health.PER_DAY_COLUMNS
    assert [d.strftime("%Y-%m-%d") for d in per_day["day"]] == ["2026-10-30", "2026-10-31", "2026-11-01"]
    assert list(per_day["snapshots"]) == [0, 0, 8]


def test_gaps_longer_than_twice_the_median_interval(fleet: Engine) -> None:
    with fleet.connect() as conn:
        found = health.gaps(conn, now=NOW)
    assert list(found.columns) == health.GAP_COLUMNS
    [gap] = found.to_dict("records")
    assert gap["cluster"] == "prod"
    assert gap["gap_start"] == pd.Timestamp(f.T0 + timedelta(minutes=15))
    assert gap["gap_end"] == pd.Timestamp(f.T0 + timedelta(minutes=45))
    assert gap["gap_seconds"] == 1800.0 and gap["missed_snapshots"] == 5


def test_collection_warnings_are_categorized(fleet: Engine) -> None:
    with fleet.connect() as conn:
        warnings = health.collection_warnings(conn, now=NOW)
        limited = health.collection_warnings(conn, now=NOW, limit=1)
    assert list(warnings.columns) == health.WARNING_COLUMNS
    assert list(warnings["category"]) == [health.METRICS_MISSING, health.RBAC_DEGRADED, health.MALFORMED]
    assert set(warnings["taken_at"]) == {pd.Timestamp(f.T0 + timedelta(hours=1))}
    assert len(limited) == 1


def test_snapshot_without_usage_counts_as_metrics_missing(store: Engine) -> None:
    write(store, dataclasses.replace(f.snapshot("prod"), usage_known=False, warnings=["node gone"]))
    with store.connect() as conn:
        warnings = health.collection_warnings(conn, now=NOW)
    assert sorted(warnings["category"]) == [health.METRICS_MISSING, health.OTHER]


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("pod metrics: metrics.k8s.io unavailable; usage unknown", health.METRICS_MISSING),
        ("jobs: forbidden; CronJobs resolved from Job names", health.RBAC_DEGRADED),
        ("HTTP 403 on resourcequotas; quotas not recorded", health.RBAC_DEGRADED),
        ("node n1: malformed pods allocatable 'x' ignored", health.MALFORMED),
        ("pod a/b: negative cpu request '-1' ignored", health.MALFORMED),
        ("pod a/b is bound to node x, which was not in the node list", health.OTHER),
    ],
)
def test_categorize(message: str, category: str) -> None:
    assert health.categorize(message) == category


def test_database_size_is_positive(fleet: Engine) -> None:
    with fleet.connect() as conn:
        size = health.database_size(conn)
    assert size is not None and size > 100_000


def test_empty_database_gives_empty_frames(store: Engine) -> None:
    with store.connect() as conn:
        frames = {
            "freshness": (health.freshness(conn, now=NOW), health.FRESHNESS_COLUMNS),
            "per_day": (health.snapshots_per_day(conn, now=NOW), health.PER_DAY_COLUMNS),
            "gaps": (health.gaps(conn, now=NOW), health.GAP_COLUMNS),
            "warnings": (health.collection_warnings(conn, now=NOW), health.WARNING_COLUMNS),
            "packing": (inventory.node_packing(conn), inventory.PACKING_COLUMNS),
            "pending": (inventory.pending_demand(conn), inventory.PENDING_COLUMNS),
        }
    for name, (frame, columns) in frames.items():
        assert frame.empty, name
        assert list(frame.columns) == columns, name


# --- figures and formatting (no Streamlit) --------------------------------------------------------


@pytest.fixture
def frames(fleet: Engine) -> dict[str, pd.DataFrame]:
    with fleet.connect() as conn:
        return {
            "pools": inventory.node_pools(conn),
            "packing": inventory.node_packing(conn),
            "pending": inventory.pending_demand(conn),
            "per_day": health.snapshots_per_day(conn, now=NOW, days=3),
            "gaps": health.gaps(conn, now=NOW),
            "warnings": health.collection_warnings(conn, now=NOW),
        }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pool_figures_stack_to_allocatable(frames: dict[str, pd.DataFrame]) -> None:
    fig = capacity_figures.pool_capacity_figure(frames["pools"], "cpu")
    assert [t.name for t in fig.data] == ["Used", "Requested, unused", "Not requested"]
    totals = [sum(values) for values in zip(*(t.x for t in fig.data), strict=True)]
    # rows reversed for plotly: staging/general, prod/spot, prod/general
    assert totals == pytest.approx([3.9, 3.9, 7.8])
    assert list(fig.data[0].y) == ["staging / general", "prod / spot", "prod / general"]
    memory = capacity_figures.pool_capacity_figure(frames["pools"], "memory")
    assert sum(memory.data[2].x) == pytest.approx((15 - 2) * 2 + (15 - 2) + (15 - 2))
    headroom = capacity_figures.headroom_figure(frames["pools"], "cpu")
    assert list(headroom.data[0].x) == pytest.approx([0.0, 2.9, 5.8])
    # fixed margins: room for the longest pool label on the left, the legend under the axis
    for chart in (fig, headroom):
        assert chart.layout.margin.autoexpand is False
        assert chart.layout.margin.l == figures.CHAR_PX * len("staging / general") + 15
        plot = chart.layout.height - chart.layout.margin.t - chart.layout.margin.b
        assert chart.layout.legend.y * plot == pytest.approx(-capacity_figures.AXIS_TITLE_PX)
    with pytest.raises(ValueError, match="resource"):
        capacity_figures.pool_capacity_figure(frames["pools"], "gpu")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_packing_heatmap_one_cell_per_node_a_block_per_pool_fullest_first(
    frames: dict[str, pd.DataFrame],
) -> None:
    packing = frames["packing"]
    fig = capacity_figures.packing_figure(packing, "cpu", columns=2)
    (heat,) = fig.data
    assert heat.type == "heatmap"
    pools = packing["pool"].value_counts().sort_index()
    # a block of rows per pool (2 cells a row), labelled on its first row with its node count
    assert list(fig.layout.yaxis.ticktext) == [f"{pool} ({n})" for pool, n in pools.items()]
    starts = [0]
    for n in list(pools)[:-1]:
        starts.append(starts[-1] + -(-n // 2))
    assert list(fig.layout.yaxis.tickvals) == starts
    assert len(heat.z) == sum(-(-n // 2) for n in pools)
    # every node is one cell with its requested share in percent, fullest first within its pool
    cells = [v for row in heat.z for v in row if v is not None]
    assert sorted(cells) == pytest.approx(sorted(round(x * 100, 1) for x in packing["cpu_requested_share"]))
    for start, n in zip(starts, pools, strict=True):
        block = [v for row in heat.z[start : start + -(-n // 2)] for v in row if v is not None]
        assert block == sorted(block, reverse=True) and len(block) == n
    fullest = packing.sort_values("cpu_requested_share", ascending=False).iloc[0]
    hovers = [t for row in heat.text for t in row if t]
    assert len(hovers) == len(packing)
    assert any(
        t.startswith(f"{fullest['node']} · {fullest['pods']} pods")
        and f"requested {fullest['cpu_requested_share'] * 100:.0f} %" in t
        for t in hovers
    )
    memory = capacity_figures.packing_figure(packing, "memory")
    assert sorted(v for row in memory.data[0].z for v in row if v is not None) == pytest.approx(
        sorted(round(x * 100, 1) for x in packing["memory_requested_share"])
    )
    assert len(memory.data[0].z[0]) == 10  # a row holds at least 10 cells


def test_packing_heatmap_stays_one_image_at_5000_nodes() -> None:
    nodes = pd.DataFrame(
        {
            "node": [f"n{i}" for i in range(5000)],
            "pool": ["a" if i % 3 else "b" for i in range(5000)],
            "pods": 10,
            "cpu_requested_share": [(i % 100) / 100 for i in range(5000)],
            "cpu_used_share": float("nan"),
        }
    )
    fig = capacity_figures.packing_figure(nodes, "cpu")
    assert len(fig.data) == 1 and len(fig.data[0].z[0]) == 100
    assert sum(v is not None for row in fig.data[0].z for v in row) == 5000
    assert fig.layout.height <= capacity_figures.PACKING_MAX_HEIGHT
    assert "used unknown" in fig.data[0].text[0][0]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_health_figures(frames: dict[str, pd.DataFrame]) -> None:
    per_day = capacity_figures.snapshots_per_day_figure(frames["per_day"])
    assert sorted(t.name for t in per_day.data) == ["prod", "staging"]
    assert sum(sum(t.y) for t in per_day.data) == 9
    gaps = capacity_figures.gaps_figure(frames["gaps"])
    assert [t.name for t in gaps.data] == ["prod"] and list(gaps.data[0].x) == [1_800_000.0]
    warnings = capacity_figures.warnings_figure(frames["warnings"])
    assert sorted(warnings.data[0].x) == sorted(
        [health.METRICS_MISSING, health.RBAC_DEGRADED, health.MALFORMED]
    )
    pending = capacity_figures.pending_figure(frames["pending"])
    assert list(pending.data[0].x) == pytest.approx([0.5, 4.0])


Builder = Callable[[pd.DataFrame], go.Figure]


@pytest.mark.parametrize(
    "builder",
    [
        capacity_figures.pool_capacity_figure,
        capacity_figures.headroom_figure,
        capacity_figures.packing_figure,
        capacity_figures.pending_figure,
        capacity_figures.snapshots_per_day_figure,
        capacity_figures.gaps_figure,
        capacity_figures.warnings_figure,
    ],
)
def test_figures_of_empty_frames_say_so(builder: Builder) -> None:
    fig = builder(pd.DataFrame())
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (numbers.size, 512, "512 B"),
        (numbers.size, 1.5 * GIB, "1.5 GiB"),
        (numbers.size, 3 * 1024**4, "3.0 TiB"),
        (numbers.size, None, "—"),
        (numbers.cores, 0.25, "250m"),
        (numbers.cores, 1234.5, "1,234.5 cores"),
        (numbers.cores, float("nan"), "—"),
        (numbers.size, 5 * 1024**5, "5.0 PiB"),
        (numbers.duration, 45, "45 s"),
        (numbers.duration, 600, "10 min"),
        (numbers.duration, 5400, "1.5 h"),
        (numbers.duration, 3 * 86400, "3.0 days"),
        (numbers.duration, -5400, "-1.5 h"),  # a clock ahead of this one
        (numbers.share, 0.724, "72 %"),
    ],
)
def test_human_formatting(fn: Callable[[float | None], str], value: float | None, text: str) -> None:
    assert fn(value) == text


@pytest.mark.parametrize(
    ("window", "days"),
    [
        ("14d", 14),
        ("2w", 14),
        ("48h", 2),
        ("1h", 1),
        ("30", 30),
        ("90m", 1),  # minutes, as everywhere: not months
        ("3m", 1),
        ("4000d", 3660),
        ("", 14),
        ("soon", 14),
        (None, 14),
    ],
)
def test_parse_window_days(window: str | None, days: int) -> None:
    assert filters.parse_window_days(window) == days


# --- the pages under AppTest -------------------------------------------------------------------------


def _capacity_page() -> None:
    from dashboard.views import capacity

    capacity.render()


def _health_page() -> None:
    from dashboard.views import health

    health.render()


def run_page(page: Callable[[], None], url: str, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("CAPACITY_DATABASE_URL", url)
    app = AppTest.from_function(page, default_timeout=60)
    for key, value in params.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


@pytest.fixture
def fleet_url(sqlite_url: str) -> str:
    engine = open_store(sqlite_url)
    try:
        times = [f.T0 + timedelta(minutes=5 * i) for i in range(13) if i not in (4, 5, 6, 7, 8)]
        for at in times[:-1]:
            write(engine, dataclasses.replace(f.snapshot("prod", at), warnings=[]))
        write(engine, fleet_snapshot(times[-1], warnings=["replicasets: forbidden (403)"]))
        write(engine, dataclasses.replace(f.snapshot("staging", f.T0, workloads=1, nodes=1), warnings=[]))
    finally:
        engine.dispose()
    return sqlite_url


def test_capacity_page_shows_pools_packing_and_pending(
    fleet_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(_capacity_page, fleet_url, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {
        "Nodes": "4",
        "CPU requested": f"{(2 + 2 + 1) / (3.9 * 4) * 100:.0f} %",
        "Memory requested": f"{8 / 60 * 100:.0f} %",
        "Spot nodes": "25 %",
        "Pending pods": "3",
    }
    assert [t.label for t in app.tabs] == list(capacity_view.TABS)
    # only the open tab (the first) runs: the pools' two charts and table
    assert len(app.get("bidi_component")) == 2  # pools, headroom
    (pools,) = (d.value for d in app.dataframe)
    assert list(pools["pool"]) == ["general", "spot", "general"]
    assert pools["memory_allocatable_gib"].iloc[0] == pytest.approx(30.0)
    assert len(app.get("download_button")) == 1

    packing_tab = run_page(_capacity_page, fleet_url, monkeypatch, capacity_tab="Node packing")
    assert len(packing_tab.get("bidi_component")) == 1
    (packing,) = (d.value for d in packing_tab.dataframe)
    assert len(packing) == 3  # the first cluster in the packing select box: prod
    assert packing_tab.selectbox[0].value == "prod"

    pending_tab = run_page(_capacity_page, fleet_url, monkeypatch, capacity_tab="Unscheduled demand")
    (pending,) = (d.value for d in pending_tab.dataframe)
    assert list(pending["workload"]) == ["etl", "web-0"]
    assert len(pending_tab.get("bidi_component")) == 1
    # the headline numbers are on every tab
    assert {m.label: m.value for m in pending_tab.metric} == metrics


def test_capacity_tabs_keep_their_choices_while_closed(
    fleet_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit forgets a closed tab's widgets; their choices come back with the tab."""
    app = run_page(_capacity_page, fleet_url, monkeypatch)
    app.button_group(key="capacity_pool_resource").set_value("memory").run()
    memory_title = "Memory by node pool"
    assert memory_title in charts.sent_figure(app.get("bidi_component")[0].proto)["layout"]["title"]["text"]
    app.session_state["capacity_tab"] = "Node packing"
    app.run()
    app.selectbox(key="capacity_packing_cluster").set_value("staging").run()
    assert list(app.dataframe[0].value["cluster"]) == ["staging"]
    app.session_state["capacity_tab"] = "Node pools"
    app.run()
    assert not app.exception and not app.warning
    assert app.button_group(key="capacity_pool_resource").value == "memory"
    assert memory_title in charts.sent_figure(app.get("bidi_component")[0].proto)["layout"]["title"]["text"]
    app.session_state["capacity_tab"] = "Node packing"
    app.run()
    assert app.selectbox(key="capacity_packing_cluster").value == "staging"
    assert list(app.dataframe[0].value["cluster"]) == ["staging"]


@pytest.mark.parametrize("key", ["cluster", "clusters"])
def test_capacity_page_filters_clusters_from_the_url(
    key: str, fleet_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(_capacity_page, fleet_url, monkeypatch, **{key: "staging"})
    assert {m.label: m.value for m in app.metric}["Nodes"] == "1"
    assert list(app.dataframe[0].value["cluster"]) == ["staging"]
    pending = run_page(
        _capacity_page, fleet_url, monkeypatch, capacity_tab="Unscheduled demand", **{key: "staging"}
    )
    assert any("No pending pods" in s.value for s in pending.success)


def test_health_page_shows_freshness_gaps_and_warnings(
    fleet_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(_health_page, fleet_url, monkeypatch, window="14d")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Clusters"] == "2"
    assert metrics["Gaps"] == "1"
    assert metrics["Stale clusters"] == "2"  # snapshots of 2026-11-01, long past their interval
    assert metrics["Database size"].endswith(("KiB", "MiB"))
    assert any("Stale: prod" in w.value for w in app.warning)
    fresh, gaps, warnings = (d.value for d in app.dataframe)
    assert list(fresh["cluster"]) == ["prod", "staging"]
    assert list(fresh["interval"]) == ["5 min", "—"]
    assert list(gaps["length"]) == ["30 min"]
    assert list(warnings["category"]) == [health.RBAC_DEGRADED]
    assert len(app.get("bidi_component")) == 3
    assert len(app.get("download_button")) == 4


@pytest.mark.parametrize("page", [_capacity_page, _health_page])
def test_pages_on_an_empty_database_say_how_to_start(
    page: Callable[[], None], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(sqlite_url).dispose()
    app = run_page(page, sqlite_url, monkeypatch)
    assert any("capacity demo" in i.value for i in app.info)
    assert not app.get("bidi_component")


@pytest.fixture(scope="module")
def demo_url(simulated_fleet: Fleet) -> str:
    return simulated_fleet(days=1, seed=2, now=datetime(2026, 11, 1, 12, tzinfo=UTC))


@pytest.mark.parametrize("page", [_capacity_page, _health_page])
def test_pages_render_a_demo_fleet(
    page: Callable[[], None], demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(page, demo_url, monkeypatch, window="3650d")
    assert app.get("bidi_component")
    metrics = {m.label: m.value for m in app.metric}
    if page is _capacity_page:
        assert int(metrics["Nodes"]) > 50
    else:
        assert metrics["Clusters"] == "3" and metrics["Gaps"] == "0"


def test_demo_fleet_inventory_is_consistent(demo_url: str) -> None:
    engine = open_store(demo_url)
    try:
        with engine.connect() as conn:
            pools = inventory.node_pools(conn)
            packing = inventory.node_packing(conn)
            fresh = health.freshness(conn, now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    finally:
        engine.dispose()
    assert int(pools["nodes"].sum()) == len(packing) == int(fresh["nodes"].sum())
    assert pools["cpu_requested"].sum() == pytest.approx(packing["cpu_requested"].sum())
    assert (pools["cpu_headroom"] <= pools["cpu_allocatable"] - pools["cpu_requested"] + 1e-9).all()
    assert set(fresh["median_interval_seconds"]) == {3600.0}


def test_capacity_page_forecasts_over_the_sidebar_window(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through app.py (the shared filters): the forecast table is the forecast report of the window."""
    from capacity.reports import ReportRequest, build_report
    from capacity.store.status import cluster_status
    from dashboard.filters import window_bounds

    monkeypatch.setenv("CAPACITY_DATABASE_URL", demo_url)
    monkeypatch.delenv("CAPACITY_CONFIG", raising=False)
    app = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    app.switch_page("views/capacity.py")
    app.query_params["window"] = "1d"
    app.query_params["capacity_tab"] = "Forecast"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    engine = open_store(demo_url)
    try:
        with engine.connect() as conn:
            start, end = window_bounds(max(s.latest_snapshot for s in cluster_status(conn)), "1d")
            expected = build_report(conn, ReportRequest("forecast", start, end), Config())
    finally:
        engine.dispose()
    shown = app.dataframe[-1].value
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), expected)
    assert len(expected) == 3 and (expected["days"] >= 1).all()
    assert len(app.dataframe) == 1  # the Forecast tab alone ran
