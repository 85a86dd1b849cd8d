"""Reports price history at the report's prices: a changed price re-prices every past window, an
effective-dated change charges each part of a window its own price, and every cent is still
charged once (teams + idle = the node bill)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import select

from capacity.config import Config, InstancePrice, PriceChange, Pricing, Retention
from capacity.costing import price_table
from capacity.reports import ReportRequest, build_report
from capacity.store import schema as m
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from capacity.store.priced import price_keys
from tests.bills import asset_bill
from tests.conftest import Fleet

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
START, END = datetime(2026, 11, 18, 17, 23, tzinfo=UTC), datetime(2026, 11, 20, 13, 41, tzinfo=UTC)
CHANGE = datetime(2026, 11, 19, tzinfo=UTC)  # a UTC midnight inside the window


@pytest.fixture(scope="module")
def fleet_db(simulated_fleet: Fleet) -> str:
    url = simulated_fleet(days=2, seed=2, now=NOW)
    engine = open_store(url)
    try:  # hours and days rolled up: re-pricing reaches every tier
        compact(engine, retention=Retention(), now=NOW)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module")
def doubled(fleet_db: str) -> tuple[str, InstancePrice]:
    """The most common instance type, and its price doubled per region and capacity type."""
    engine = open_store(fleet_db)
    try:
        with engine.connect() as conn:
            keys = price_keys(conn, list(conn.execute(select(m.PriceKeyRow.id)).scalars()))
    finally:
        engine.dispose()
    counts = pd.Series([k.instance_type for k in keys.values()]).value_counts()
    name = str(counts.index[0])
    hourly = price_table(keys, Pricing()).set_index("price_key_id")["node_hourly"]
    regions: dict[str, dict[str, float]] = defaultdict(dict)
    for key_id, key in keys.items():
        if key.instance_type == name:
            field = "spot" if key.capacity_type == "spot" else "on_demand"
            assert regions[str(key.region)].setdefault(field, 2 * hourly[key_id]) == pytest.approx(
                2 * hourly[key_id]
            )
    return name, InstancePrice(regions={r: InstancePrice(**p) for r, p in regions.items()})


def report(
    db: str, kind: str, config: Config, start: datetime = START, end: datetime = END, **kw: object
) -> pd.DataFrame:
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            return build_report(conn, ReportRequest(kind, start, end, **kw), config)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def with_prices(**pricing: object) -> Config:
    return Config(pricing=Pricing(**pricing))  # type: ignore[arg-type]


def test_doubling_one_types_price_doubles_exactly_its_nodes_in_a_past_window(
    fleet_db: str, doubled: tuple[str, InstancePrice]
) -> None:
    name, entry = doubled
    before = report(fleet_db, "nodes", Config()).set_index(["cluster", "node"])
    after = report(fleet_db, "nodes", with_prices(instance_types={name: entry})).set_index(
        ["cluster", "node"]
    )
    hit = before["instance_type"] == name
    assert hit.any() and (~hit).any()
    for column in ("total_cost", "cpu_cost", "memory_cost", "gpu_cost", "idle_cost"):
        assert after.loc[hit, column].to_numpy() == pytest.approx(2 * before.loc[hit, column].to_numpy())
        assert after.loc[~hit, column].to_numpy() == pytest.approx(before.loc[~hit, column].to_numpy())


@pytest.mark.parametrize("idle", ["separate", "share"])
def test_teams_and_idle_still_add_up_to_the_bill_at_new_prices(
    fleet_db: str, doubled: tuple[str, InstancePrice], idle: str
) -> None:
    name, entry = doubled
    changed = with_prices(changes=[PriceChange(since=CHANGE.date(), instance_types={name: entry})])
    bills = {}
    for label, config in (("base", Config()), ("changed", changed)):
        teams = report(fleet_db, "teams", config, idle=idle)
        engine = open_store(fleet_db)
        try:  # nodes at the new prices; volumes and load balancers (not re-priced here) as ever
            bill = report(fleet_db, "nodes", config)["total_cost"].sum() + asset_bill(engine, START, END)
        finally:
            engine.dispose()
        assert round(teams["total_cost"].sum(), 2) == round(bill, 2)  # to the cent
        bills[label] = bill
    assert bills["changed"] > bills["base"] * 1.05  # the change is a real part of the bill


def test_a_price_change_mid_window_charges_each_part_its_own_price(
    fleet_db: str, doubled: tuple[str, InstancePrice]
) -> None:
    name, entry = doubled
    changed = with_prices(changes=[PriceChange(since=CHANGE.date(), instance_types={name: entry})])
    whole = report(fleet_db, "nodes", changed).set_index(["cluster", "node"])["total_cost"]
    before = report(fleet_db, "nodes", Config(), end=CHANGE).set_index(["cluster", "node"])["total_cost"]
    after = report(fleet_db, "nodes", with_prices(instance_types={name: entry}), start=CHANGE)
    after_cost = after.set_index(["cluster", "node"])["total_cost"]
    parts = before.add(after_cost, fill_value=0.0).reindex(whole.index)
    assert whole.to_numpy() == pytest.approx(parts.to_numpy(), rel=1e-9)
    # a stepped report: the day before the change at the old price, the days after at the new one
    days = report(fleet_db, "clusters", changed, step="day")
    plain = report(fleet_db, "clusters", Config(), step="day")
    first = days["period_start"] < CHANGE.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert days.loc[first, "total_cost"].to_numpy() == pytest.approx(
        plain.loc[first, "total_cost"].to_numpy()
    )
    later, base = days.loc[~first, "total_cost"].to_numpy(), plain.loc[~first, "total_cost"].to_numpy()
    assert (later >= base - 1e-9).all() and later.sum() > base.sum()  # a cluster without the type: same


def test_prices_in_force_at_an_instant() -> None:
    change = PriceChange(since=CHANGE.date(), instance_types={"m6i.large": InstancePrice(on_demand=0.05)})
    pricing = Pricing(instance_types={"m6i.large": InstancePrice(on_demand=0.1)}, changes=[change])
    assert (
        pricing.at(CHANGE.replace(hour=0) - pd.Timedelta(seconds=1)).instance_types["m6i.large"].on_demand
        == 0.1
    )
    assert pricing.at(CHANGE).instance_types["m6i.large"].on_demand == 0.05
    assert pricing.boundaries() == [CHANGE]
    with pytest.raises(ValueError, match="in order of since"):
        Pricing(changes=[change, change])
