"""Pricing the stored quantities (capacity.costing over capacity.store.priced): a report's money is
every raw sample priced by hand, on raw rows and rollups alike; at other prices, exactly the
nodes whose price changed change."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import Connection, select

from capacity.charges import with_cluster_costs, with_container_costs, with_node_costs
from capacity.config import Config, InstancePrice, Pricing, Retention
from capacity.costing import ALLOCATION_COSTS, NODE_COSTS, allocation_costs, node_costs, price_table
from capacity.pricing import key_prices
from capacity.records import PriceKey
from capacity.store import schema as m
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from capacity.store.priced import ALLOCATIONS, NODE_PRICES, price_keys
from capacity.store.windows import cluster_window, container_window, grain_window, node_window
from tests.conftest import Fleet

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
START, END = datetime(2026, 11, 18, 17, 23, tzinfo=UTC), datetime(2026, 11, 20, 13, 41, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet_db(simulated_fleet: Fleet) -> str:
    return simulated_fleet(days=2, seed=2, now=NOW)


def _keys(conn: Connection, *frames: pd.DataFrame) -> dict[int, PriceKey]:
    return price_keys(conn, sorted({int(k) for f in frames for k in f["price_key_id"]}))


def _close(got: pd.DataFrame, want: pd.DataFrame, on: list[str], columns: tuple[str, ...]) -> None:
    joined = want[[*on, *columns]].merge(got[[*on, *columns]], on=on, how="outer", suffixes=("_want", "_got"))
    for column in columns:
        pd.testing.assert_series_equal(
            joined[f"{column}_got"].fillna(0.0), joined[f"{column}_want"].fillna(0.0),
            check_names=False, rtol=1e-9, atol=1e-9,
        )  # fmt: skip


def _raw_expected(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Price every raw sample in the window by hand: per container and per node, in money."""
    ca, ns, snap = m.ContainerAllocation, m.NodeSample, m.Snapshot
    window = (snap.taken_at >= START, snap.taken_at < END)
    allocations = pd.DataFrame(
        conn.execute(
            select(ca.cluster_id, ca.workload_id, ca.container, ca.price_key_id, ca.cpu_allocated,
                   ca.memory_allocated, ca.gpu_allocated, snap.interval_seconds)
            .join(snap, snap.id == ca.snapshot_id).where(*window)
        ).mappings().all()
    )  # fmt: skip
    nodes = pd.DataFrame(
        conn.execute(
            select(ns.cluster_id, ns.node_id, ns.price_key_id, ns.cpu_capacity, ns.cpu_allocated,
                   snap.interval_seconds)
            .join(snap, snap.id == ns.snapshot_id).where(*window)
        ).mappings().all()
    )  # fmt: skip
    keys = price_keys(conn, sorted(set(nodes["price_key_id"])))
    unit = {k: key_prices(Config().pricing, key) for k, key in keys.items()}
    hours = allocations["interval_seconds"] / 3600
    allocations["cpu_cost"] = allocations["cpu_allocated"] * allocations["price_key_id"].map(
        lambda k: unit[k].cpu_core_hourly) * hours  # fmt: skip
    allocations["gpu_cost"] = allocations["gpu_allocated"] * allocations["price_key_id"].map(
        lambda k: unit[k].gpu_hourly) * hours  # fmt: skip
    hours = nodes["interval_seconds"] / 3600
    cpu = nodes["price_key_id"].map(lambda k: unit[k].cpu_core_hourly)
    nodes["cost"] = nodes["price_key_id"].map(lambda k: unit[k].node_hourly) * hours
    nodes["cpu_idle_cost"] = (nodes["cpu_capacity"] - nodes["cpu_allocated"]).clip(lower=0) * cpu * hours
    by_container = allocations.groupby(["cluster_id", "workload_id", "container"])[
        ["cpu_cost", "gpu_cost"]
    ].sum()
    return by_container.reset_index(), nodes.groupby(["cluster_id", "node_id"])[
        ["cost", "cpu_idle_cost"]
    ].sum().reset_index()


@pytest.mark.parametrize("compacted", [False, True], ids=["raw", "rolled-up"])
def test_report_money_is_every_raw_sample_priced_by_hand(fleet_db: str, compacted: bool) -> None:
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            want_containers, want_nodes = _raw_expected(conn)
        if compacted:
            compact(engine, retention=Retention(), now=NOW)
        with engine.connect() as conn:
            window = (START, END)
            containers = container_window(conn, start=START, end=END, histograms=False)
            containers = with_container_costs(conn, containers, Config().pricing, window, ())
            nodes = with_node_costs(
                conn, node_window(conn, start=START, end=END), Config().pricing, window, ()
            )
            clusters = with_cluster_costs(
                conn, cluster_window(conn, start=START, end=END), Config().pricing, window, ()
            )
    finally:
        engine.dispose()
    assert len(containers) > 300 and want_containers["cpu_cost"].sum() > 10
    assert want_containers["gpu_cost"].sum() > 0 and want_nodes["cpu_idle_cost"].sum() > 0
    on = ["cluster_id", "workload_id", "container"]
    _close(containers, want_containers, on, ("cpu_cost", "gpu_cost"))
    _close(nodes, want_nodes, ["cluster_id", "node_id"], ("cost", "cpu_idle_cost"))
    by_cluster = want_nodes.groupby("cluster_id")[["cost", "cpu_idle_cost"]].sum().reset_index()
    _close(clusters, by_cluster, ["cluster_id"], ("cost", "cpu_idle_cost"))
    # and the cost module's split adds up: per resource costs are the node price
    assert (clusters["cpu_cost"] + clusters["memory_cost"] + clusters["gpu_cost"]).sum() == pytest.approx(
        clusters["cost"].sum(), rel=1e-9
    )


def test_doubling_one_instance_types_price_doubles_exactly_its_nodes(fleet_db: str) -> None:
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            allocations = grain_window(conn, ALLOCATIONS, start=START, end=END)
            nodes = grain_window(conn, NODE_PRICES, start=START, end=END)
            keys = _keys(conn, allocations, nodes)
    finally:
        engine.dispose()
    base = Config().pricing
    before = price_table(keys, base)
    type_of = {key_id: key.instance_type for key_id, key in keys.items()}
    doubled_type = pd.Series(type_of).value_counts().idxmax()
    doubled_ids = {key_id for key_id, name in type_of.items() if name == doubled_type}
    # the doubled type's price, per region and capacity type, as configuration
    hourly = before.set_index("price_key_id")["node_hourly"]
    regions: dict[str | None, dict[str, float]] = defaultdict(dict)
    for key_id in doubled_ids:
        key = keys[key_id]
        field = "spot" if key.capacity_type == "spot" else "on_demand"
        assert regions[key.region].setdefault(field, 2 * hourly[key_id]) == pytest.approx(2 * hourly[key_id])
    entry = InstancePrice(regions={str(r): InstancePrice(**p) for r, p in regions.items()})
    after = price_table(keys, Pricing(instance_types={**base.instance_types, str(doubled_type): entry}))

    checks = (
        (node_costs, nodes, NODE_COSTS, ["node_id", "price_key_id"]),
        (allocation_costs, allocations, ALLOCATION_COSTS, ["workload_id", "container", "price_key_id"]),
    )
    for priced, frame, costs, by in checks:
        pairs = priced(frame, before, by).merge(priced(frame, after, by), on=by, suffixes=("_old", "_new"))
        hit = pairs["price_key_id"].isin(doubled_ids)
        assert hit.any() and (~hit).any()
        for column in costs:
            old, new = pairs[f"{column}_old"].to_numpy(), pairs[f"{column}_new"].to_numpy()
            assert new[hit] == pytest.approx(2 * old[hit])
            assert new[~hit] == pytest.approx(old[~hit])
