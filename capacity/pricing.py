"""Node prices: which hourly price a node has, and how it splits into unit prices.

Resolution order, first match wins (DESIGN.md "Cost model"): a per-node override label or
annotation; the configured price of the instance type (per capacity type, optionally per
region); the bundled catalog (``capacity.catalog``); the default per-resource rates.
Capacity (not allocatable) is priced, so system-reserved resources are paid for and show
up as overhead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from capacity.catalog import catalog_price
from capacity.config import InstancePrice, Pricing, ResourceRates
from capacity.records import PriceKey, Resources, UnitPrices

GIB = 1024.0**3
SPOT = "spot"
ON_DEMAND = "on-demand"


def default_price(capacity: Resources, rates: ResourceRates) -> float:
    """Return the hourly price of ``capacity`` at per-resource ``rates``."""
    return (
        capacity.cpu * rates.cpu_core_hour
        + capacity.memory / GIB * rates.memory_gib_hour
        + capacity.gpu * rates.gpu_hour
    )


def split_price(node_hourly: float, capacity: Resources, rates: ResourceRates, source: str) -> UnitPrices:
    """Return unit prices that split ``node_hourly`` in the ratio of the default rates.

    OpenCost's method: each resource's share of the node price is its share of what the
    node would cost at the default rates. A node of 1 GPU, 1 CPU and 1 GB at 35 with base
    prices 30/30/10 splits into 15/15/5.
    """
    at_default = default_price(capacity, rates)
    if at_default <= 0:
        return UnitPrices(node_hourly, 0.0, 0.0, 0.0, source)
    scale = node_hourly / at_default
    return UnitPrices(
        node_hourly=node_hourly,
        cpu_core_hourly=rates.cpu_core_hour * scale,
        memory_byte_hourly=rates.memory_gib_hour / GIB * scale,
        gpu_hourly=rates.gpu_hour * scale,
        source=source,
    )


def _configured(entry: InstancePrice, capacity_type: str, region: str | None) -> float | None:
    if region is not None and region in entry.regions:
        regional = _configured(entry.regions[region], capacity_type, None)
        if regional is not None:
            return regional
    return entry.spot if capacity_type == SPOT else entry.on_demand


def override_price(
    pricing: Pricing, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> float | None:
    """Return the node's price label (or annotation) value; raises ValueError when it is no price."""
    key = pricing.node_price_label
    if not key:
        return None
    raw = labels.get(key, annotations.get(key))
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key}={raw!r} is not a non-negative price")
    return value


def key_prices(pricing: Pricing, key: PriceKey) -> UnitPrices:
    """Return the hourly price and unit prices of a node with this price key: the resolution rule."""
    capacity = key.capacity
    rates = pricing.default_rates.spot if key.capacity_type == SPOT else pricing.default_rates.on_demand
    if key.override_hourly is not None:
        return split_price(key.override_hourly, capacity, rates, "override")
    if key.instance_type is not None and key.instance_type in pricing.instance_types:
        configured = _configured(pricing.instance_types[key.instance_type], key.capacity_type, key.region)
        if configured is not None:
            return split_price(configured, capacity, rates, "config")
    if pricing.catalog:
        listed = catalog_price(
            key.instance_type,
            region=key.region,
            capacity_type=key.capacity_type,
            capacity=capacity,
            currency=pricing.currency,
        )
        if listed is not None:
            return split_price(listed.hourly, capacity, rates, "catalog")
    return split_price(default_price(capacity, rates), capacity, rates, "default")


def price_key(
    pricing: Pricing,
    *,
    capacity: Resources,
    instance_type: str | None,
    capacity_type: str,
    region: str | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> PriceKey:
    """Return the node's price key; raises ValueError on a bad override."""
    override = override_price(pricing, labels, annotations)
    return PriceKey(
        instance_type, capacity_type, region, override, capacity.cpu, capacity.memory, capacity.gpu
    )
