"""The bundled price catalog: on-demand hourly prices of common cloud instance types.

- AWS: list prices per instance type and region (``data/aws_ondemand_hourly.csv``, from
  Karpenter's generated pricing tables). An unknown region falls back to us-east-1.
- GCP: per-family per-vCPU and per-GiB rates (``data/gce_family_rates.csv``, from the
  cluster-autoscaler's GCE price table, us-central1): a node costs its vCPUs and GiB at its
  family's rates, spot at the family's spot CPU rate (memory scaled by the same ratio).
- Azure: no list in the catalog; ``Standard_*`` VMs are priced per vCPU and GiB at OpenCost's
  Azure estimate (configs/azure.json: 0.039 per vCPU-hour, 0.001917 per GiB-hour; spot
  0.007764 / 0.000382).

Prices are USD per hour (AWS China regions: CNY); a price in another currency than the
configured one is never used.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from capacity.records import Resources

GIB = 1024.0**3
DEFAULT_AWS_REGION = "us-east-1"
_GCE_TYPE = re.compile(r"^(?P<family>[a-z]\d[a-z]?)-[a-z0-9-]+$")
_AZURE = {"on-demand": (0.039, 0.001917), "spot": (0.007764, 0.000382)}


@dataclass(frozen=True, slots=True)
class CatalogPrice:
    hourly: float
    detail: str  # where the price came from, for explanations


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("capacity") / "data" / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


@cache
def _aws() -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (r["region"], r["instance_type"]): (float(r["hourly"]), r["currency"])
        for r in _rows("aws_ondemand_hourly.csv")
    }


@cache
def _gce() -> dict[str, tuple[float, float, float]]:
    return {
        r["family"]: (
            float(r["cpu_usd_per_vcpu_hour"]),
            float(r["memory_usd_per_gb_hour"]),
            float(r["spot_cpu_usd_per_vcpu_hour"]),
        )
        for r in _rows("gce_family_rates.csv")
    }


def catalog_price(
    instance_type: str | None,
    *,
    region: str | None,
    capacity_type: str,
    capacity: Resources,
    currency: str,
) -> CatalogPrice | None:
    """Return the catalog's hourly price for a node, or None when the catalog does not know it."""
    if not instance_type:
        return None
    if capacity_type != "spot":
        for where in (region, DEFAULT_AWS_REGION):
            if where is None:
                continue
            found = _aws().get((where, instance_type))
            if found is not None:
                price, cur = found
                if cur != currency:
                    return None
                return CatalogPrice(price, f"AWS on-demand list price, {instance_type} in {where}")
    if currency != "USD":
        return None
    match = _GCE_TYPE.match(instance_type)
    if match and match.group("family") in _gce():
        cpu_rate, mem_rate, spot_cpu = _gce()[match.group("family")]
        if capacity_type == "spot":
            mem_rate *= spot_cpu / cpu_rate
            cpu_rate = spot_cpu
        hourly = capacity.cpu * cpu_rate + capacity.memory / GIB * mem_rate
        return CatalogPrice(
            hourly, f"GCE {match.group('family')} family rates (us-central1), {capacity_type}"
        )
    if instance_type.startswith("Standard_"):
        cpu_rate, mem_rate = _AZURE["spot" if capacity_type == "spot" else "on-demand"]
        hourly = capacity.cpu * cpu_rate + capacity.memory / GIB * mem_rate
        return CatalogPrice(hourly, f"Azure per-vCPU/GiB estimate (OpenCost azure.json), {capacity_type}")
    return None
