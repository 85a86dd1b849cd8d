"""Namespaces and ResourceQuotas → their records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from capacity.records import (
    NamespaceRecord,
    QuotaRecord,
)
from collectors.quantity import parse
from collectors.raw import labels, mapping, name_of


def namespace_record(item: Mapping[str, Any], warn: Callable[[str], None]) -> NamespaceRecord:
    """Return a namespace's name and labels (``item`` has passed ``raw.well_formed``)."""
    meta = item["metadata"]
    name = str(meta["name"])
    return NamespaceRecord(name=name, labels=labels(meta, f"namespace {name}", warn))


def quota_records(item: Mapping[str, Any], warn: Callable[[str], None]) -> list[QuotaRecord]:
    """Return one record per resource a quota limits (``item`` has passed ``raw.well_formed``)."""
    meta = item["metadata"]
    ns, name = name_of(meta.get("namespace")) or "", str(meta["name"])
    where = f"resourcequota {ns}/{name}"
    status = mapping(item.get("status"), f"{where} status", warn)
    hard = mapping(status.get("hard"), f"{where} hard", warn) or mapping(
        mapping(item.get("spec"), f"{where} spec", warn).get("hard"), f"{where} hard", warn
    )
    used = mapping(status.get("used"), f"{where} used", warn)
    records = []
    for resource, raw in sorted(hard.items()):
        if name_of(resource) is None:
            continue
        try:
            hard_value = parse(raw)
        except ValueError:
            warn(f"{where}: malformed {resource} {raw!r} ignored")
            continue
        used_value: float | None
        try:
            used_value = parse(used[resource]) if resource in used else None
        except ValueError:
            warn(f"{where}: malformed used {resource} {used[resource]!r} ignored")
            used_value = None
        records.append(QuotaRecord(ns, name, str(resource), hard_value, used_value))
    return records
