"""Pricing the stored quantities: from what was allocated and offered, by price key, to money.

The collectors store quantities by the price key of the node they ran on (``capacity.records
.PriceKey``): container allocations in resource-seconds, node capacity and idle in
resource-seconds. This module prices them with any configuration's prices (``capacity.pricing
.key_prices``, the one resolution rule), so a report over history can use today's prices.
Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from capacity.asset_pricing import asset_price
from capacity.config import Pricing
from capacity.pricing import key_prices
from capacity.records import VOLUME, AssetKey, PriceKey, UnitPrices

PRICE_COLUMNS = ("node_hourly", "cpu_core_hourly", "memory_byte_hourly", "gpu_hourly")
# which unit price each priced quantity is multiplied by, and the money column it makes (money =
# quantity x hourly unit price / 3600): applied here to frames and by capacity.store.priced in SQL
ALLOCATION_MONEY = (
    ("cpu_allocated_cs", "cpu_core_hourly", "cpu_cost"),
    ("memory_allocated_bs", "memory_byte_hourly", "memory_cost"),
    ("gpu_allocated_s", "gpu_hourly", "gpu_cost"),
)
NODE_MONEY = (
    ("seconds", "node_hourly", "cost"),
    ("cpu_capacity_cs", "cpu_core_hourly", "cpu_cost"),
    ("memory_capacity_bs", "memory_byte_hourly", "memory_cost"),
    ("gpu_capacity_s", "gpu_hourly", "gpu_cost"),
    ("cpu_idle_cs", "cpu_core_hourly", "cpu_idle_cost"),
    ("memory_idle_bs", "memory_byte_hourly", "memory_idle_cost"),
    ("gpu_idle_s", "gpu_hourly", "gpu_idle_cost"),
)
# volumes and load balancers: a byte of volume or a load balancer per hour (capacity.asset_pricing)
ASSET_UNITS = ("storage_unit_hourly", "network_unit_hourly")
ASSET_MONEY = (
    ("amount_s", "storage_unit_hourly", "storage_cost"),
    ("amount_s", "network_unit_hourly", "network_cost"),
)
VOLUME_MONEY = (
    ("capacity_bs", "storage_unit_hourly", "cost"),
    ("unmounted_bs", "storage_unit_hourly", "unmounted_cost"),
)
ALLOCATION_COSTS: tuple[str, ...] = tuple(money for _, _, money in ALLOCATION_MONEY)
NODE_COSTS: tuple[str, ...] = tuple(money for _, _, money in NODE_MONEY)


def _units(prices: UnitPrices) -> tuple[float, ...]:
    return (prices.node_hourly, prices.cpu_core_hourly, prices.memory_byte_hourly, prices.gpu_hourly)


def price_table(keys: Mapping[int, PriceKey], pricing: Pricing) -> pd.DataFrame:
    """Return per price key id its hourly node price, unit prices and price source."""
    rows = []
    for key_id, key in keys.items():
        prices = key_prices(pricing, key)
        rows.append((key_id, *_units(prices), prices.source))
    return pd.DataFrame(rows, columns=["price_key_id", *PRICE_COLUMNS, "price_source"])


def unit_prices(keys: Mapping[int, PriceKey], pricing: Pricing) -> dict[int, tuple[float, ...]]:
    """Return per price key id its unit prices in ``PRICE_COLUMNS`` order (what the store's
    priced reads multiply the quantities by)."""
    return {key_id: _units(key_prices(pricing, key)) for key_id, key in keys.items()}


def asset_unit_prices(keys: Mapping[int, AssetKey], pricing: Pricing) -> dict[int, tuple[float, ...]]:
    """Return per asset key id its unit prices in ``ASSET_UNITS`` order: a volume's byte-hour
    price as storage, a load balancer's hourly price as network."""
    out: dict[int, tuple[float, ...]] = {}
    for key_id, key in keys.items():
        unit = asset_price(pricing, key).unit_hourly
        out[key_id] = (unit, 0.0) if key.kind == VOLUME else (0.0, unit)
    return out


def asset_sources(keys: Mapping[int, AssetKey], pricing: Pricing) -> dict[int, str]:
    """Return per asset key id where its price comes from (config, catalog, default, node)."""
    return {key_id: asset_price(pricing, key).source for key_id, key in keys.items()}


def _priced(
    sums: pd.DataFrame,
    prices: pd.DataFrame,
    by: Sequence[str],
    money: tuple[tuple[str, str, str], ...],
) -> pd.DataFrame:
    """Return ``sums`` priced per row by its ``price_key_id`` (and ``epoch``, when both frames
    have one: the prices in force in that part of the window), then summed by ``by``."""
    by = list(by)
    if sums.empty:
        return pd.DataFrame(columns=[*by, *(m for _, _, m in money)])
    on = (
        ["price_key_id", "epoch"]
        if "epoch" in prices.columns and "epoch" in sums.columns
        else ["price_key_id"]
    )
    joined = sums.merge(prices, on=on, how="left", validate="many_to_one")
    missing = joined["node_hourly"].isna()
    if missing.any():
        unknown = sorted({int(k) for k in joined.loc[missing, "price_key_id"]})
        raise ValueError(f"no price for price keys {unknown[:10]}")
    for quantity, unit, column in money:
        joined[column] = joined[quantity].astype(float) * joined[unit].astype(float) / 3600.0
    columns = [m for _, _, m in money]
    return joined.groupby(by, sort=False, dropna=False)[columns].sum().reset_index()


def allocation_costs(allocations: pd.DataFrame, prices: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Return ``cpu_cost``, ``memory_cost`` and ``gpu_cost`` of the allocations, summed by ``by``.

    ``allocations``: ``capacity.store.priced.ALLOCATIONS`` sums (resource-seconds) with a
    ``price_key_id``; ``prices``: ``price_table``.
    """
    return _priced(allocations, prices, by, ALLOCATION_MONEY)


def node_costs(sums: pd.DataFrame, prices: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Return ``cost``, the per-resource costs and idle costs of priced node sums, summed by ``by``.

    ``sums``: ``capacity.store.priced.NODE_PRICES`` or ``CLUSTER_PRICES`` sums with a
    ``price_key_id``. Idle was summed per node and sample, so it is never negative here either.
    """
    return _priced(sums, prices, by, NODE_MONEY)
