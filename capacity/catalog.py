"""The bundled price catalog: on-demand hourly prices of common cloud instance types.

- AWS: list prices per instance type and region (``data/aws_ondemand_hourly.csv``, from
  Karpenter's generated pricing tables). An unknown region falls back to us-east-1.
- GCP: per-family per-vCPU and per-GiB rates (``data/gce_family_rates.csv``, from the
  cluster-autoscaler's GCE price table, us-central1): a node costs its vCPUs and GiB at its
  family's rates, spot at the family's spot CPU rate (memory scaled by the same ratio).
- Azure: no list in the catalog; ``Standard_*`` VMs are priced per vCPU and GiB at OpenCost's
  Azure estimate (configs/azure.json: 0.039 per vCPU-hour, 0.001917 per GiB-hour; spot
  0.007764 / 0.000382).

Block storage (``data/disk_list_prices.csv``): per GiB-month list prices of EBS, GCE persistent
disk and Hyperdisk, and Azure managed disk types, by the CSI or in-tree provisioner and the
StorageClass parameter that names the type.

Prices are USD per hour (AWS China regions: CNY); a price in another currency than the
configured one is never used.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
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


def table_rows(name: str) -> list[dict[str, str]]:
    """Return the rows of one bundled CSV table (lines starting with # are its provenance)."""
    text = (resources.files("capacity") / "data" / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


@cache
def _aws() -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (r["region"], r["instance_type"]): (float(r["hourly"]), r["currency"])
        for r in table_rows("aws_ondemand_hourly.csv")
    }


@cache
def _gce() -> dict[str, tuple[float, float, float]]:
    return {
        r["family"]: (
            float(r["cpu_usd_per_vcpu_hour"]),
            float(r["memory_usd_per_gb_hour"]),
            float(r["spot_cpu_usd_per_vcpu_hour"]),
        )
        for r in table_rows("gce_family_rates.csv")
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


# --- block storage ------------------------------------------------------------------------------

HOURS_PER_MONTH = 730.0
# provisioner -> (provider, the StorageClass parameters naming the disk type, the type when unset)
DISK_PROVISIONERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "ebs.csi.aws.com": ("aws", ("type",), "gp3"),
    "kubernetes.io/aws-ebs": ("aws", ("type",), "gp2"),
    "pd.csi.storage.gke.io": ("gce", ("type",), "pd-standard"),
    "kubernetes.io/gce-pd": ("gce", ("type",), "pd-standard"),
    "disk.csi.azure.com": ("azure", ("skuname", "storageaccounttype"), "StandardSSD_LRS"),
    "kubernetes.io/azure-disk": ("azure", ("skuname", "storageaccounttype"), "Standard_LRS"),
}


@cache
def _disks() -> dict[tuple[str, str], float]:
    return {
        (r["provider"], r["type"].lower()): float(r["gib_month"]) for r in table_rows("disk_list_prices.csv")
    }


def disk_catalog_price(
    provisioner: str | None, parameters: Mapping[str, str], *, currency: str
) -> CatalogPrice | None:
    """Return the catalog's price per GiB-hour of a provisioner's disks with these StorageClass
    parameters (names matched case-insensitively), or None when the catalog does not list them."""
    known = DISK_PROVISIONERS.get(provisioner or "")
    if known is None or currency != "USD":
        return None
    provider, names, default = known
    lowered = {k.lower(): v for k, v in parameters.items()}
    disk = next((lowered[n] for n in names if n in lowered), default)
    monthly = _disks().get((provider, disk.lower()))
    if monthly is None:
        return None
    return CatalogPrice(monthly / HOURS_PER_MONTH, f"{provider} {disk} list price per GiB-month / 730")
