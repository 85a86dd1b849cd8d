"""Volume and load-balancer prices: which hourly price one byte of a volume, or one load
balancer, has.

Volumes are charged for what is provisioned (their capacity), not what is used. Resolution,
first match wins: the configured price of the StorageClass by name; of its provisioner with
these parameters (every configured parameter must match); the bundled disk catalog
(``capacity.catalog``); the default per GiB-hour. A local or hostPath volume is part of its
node's price (``node``, zero here) unless its class or provisioner is configured. Load
balancers: the configured price of the Service's load-balancer class, else the default hourly.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.catalog import disk_catalog_price
from capacity.config import Pricing
from capacity.records import LOAD_BALANCER, AssetKey

GIB = 1024.0**3


@dataclass(frozen=True, slots=True)
class AssetPrice:
    """Hourly price of one unit (a byte of volume, a load balancer) and where it came from."""

    unit_hourly: float
    source: str  # config | catalog | default | node


def asset_price(pricing: Pricing, key: AssetKey) -> AssetPrice:
    """Return the hourly unit price of a volume's byte or of a load balancer: the resolution rule."""
    if key.kind == LOAD_BALANCER:
        configured = pricing.load_balancer_classes.get(key.load_balancer_class or "")
        if configured is not None:
            return AssetPrice(configured, "config")
        return AssetPrice(pricing.load_balancer_hourly, "default")
    per_gib = _configured_gib_hour(pricing, key)
    if per_gib is not None:
        return AssetPrice(per_gib / GIB, "config")
    if key.local:
        return AssetPrice(0.0, "node")
    if pricing.catalog:
        listed = disk_catalog_price(key.provisioner, dict(key.parameters), currency=pricing.currency)
        if listed is not None:
            return AssetPrice(listed.hourly / GIB, "catalog")
    return AssetPrice(pricing.default_storage_gib_hour / GIB, "default")


def _configured_gib_hour(pricing: Pricing, key: AssetKey) -> float | None:
    by_class = pricing.storage_classes.get(key.storage_class or "")
    if by_class is not None:
        return by_class.gib_hour
    parameters = dict(key.parameters)
    for entry in pricing.storage_provisioners:
        if entry.provisioner == key.provisioner and all(
            parameters.get(name) == value for name, value in entry.parameters.items()
        ):
            return entry.gib_hour
    return None
