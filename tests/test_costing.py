"""Pricing the stored quantities (capacity.costing over capacity.store.priced): at the prices they
were collected with, they give back exactly the money stored with them; at other prices, exactly
the nodes whose price changed change."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pandas as pd
import pytest
from conftest import Fleet
from sqlalchemy import Connection

from capacity.config import Config, InstancePrice, Pricing, Retention
from capacity.costing import ALLOCATION_COSTS, NODE_COSTS, allocation_costs, node_costs, price_table
from capacity.records import PriceKey
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from capacity.store.priced import ALLOCATIONS, CLUSTER_PRICES, NODE_PRICES, price_keys
from capacity.store.windows import cluster_window, container_window, grain_window, node_window

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


@pytest.mark.parametrize("compacted", [False, True], ids=["raw", "rolled-up"])
def test_priced_quantities_give_back_the_stored_money(fleet_db: str, compacted: bool) -> None:
    engine = open_store(fleet_db)
    try:
        if compacted:
            compact(engine, retention=Retention(), now=NOW)
        with engine.connect() as conn:
            stored_containers = container_window(conn, start=START, end=END, histograms=False)
            stored_nodes = node_window(conn, start=START, end=END)
            stored_clusters = cluster_window(conn, start=START, end=END)
            allocations = grain_window(conn, ALLOCATIONS, start=START, end=END)
            nodes = grain_window(conn, NODE_PRICES, start=START, end=END)
            clusters = grain_window(conn, CLUSTER_PRICES, start=START, end=END)
            prices = price_table(_keys(conn, allocations, nodes, clusters), Config().pricing)
    finally:
        engine.dispose()
    assert len(allocations) >= len(stored_containers) > 300
    assert stored_containers["cpu_cost"].sum() > 10
    by = ["cluster", "workload_id", "container"]
    _close(allocation_costs(allocations, prices, by), stored_containers, by, ALLOCATION_COSTS)
    _close(
        node_costs(nodes, prices, ["cluster", "node_id"]), stored_nodes, ["cluster", "node_id"], NODE_COSTS
    )
    _close(node_costs(clusters, prices, ["cluster"]), stored_clusters, ["cluster"], NODE_COSTS)


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
