"""HorizontalPodAutoscalers (autoscaling/v2): the workload each scales, its bounds, its replicas
now and wanted, and the metrics and targets it scales on (what HPA-aware right-sizing needs).

An HPA without metrics scales on 80 % average CPU utilization, as the API defaults it. A
malformed HPA warns and is left out; the snapshot lands without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from capacity.records import HpaMetric, HpaRecord, WorkloadKey
from collectors.quantity import parse
from collectors.raw import MALFORMED, describe, mapping, name_of, sequence, well_formed

Warn = Callable[[str], None]
DEFAULT_METRIC = HpaMetric("Resource", "cpu", "Utilization", 80.0)
# metric type -> the key of its block in spec.metrics[]
_BLOCKS = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} {value!r} is not a replica count")
    return value


def _metric(entry: Mapping[str, Any], where: str, warn: Warn) -> HpaMetric:
    kind = str(entry.get("type", ""))
    if kind not in _BLOCKS:
        raise ValueError(f"metric type {kind!r} unknown")
    block = mapping(entry.get(_BLOCKS[kind]), f"{where} {kind} metric", warn)
    if kind in ("Resource", "ContainerResource"):
        name = name_of(block.get("name"))
    else:
        name = name_of(mapping(block.get("metric"), f"{where} metric", warn).get("name"))
    target = mapping(block.get("target"), f"{where} target", warn)
    target_type = str(target.get("type", ""))
    if target_type == "Utilization":
        value = float(_count(target.get("averageUtilization"), "averageUtilization"))
    elif target_type == "AverageValue":
        value = parse(target.get("averageValue"))
    elif target_type == "Value":
        value = parse(target.get("value"))
    else:
        raise ValueError(f"target type {target_type!r} unknown")
    if name is None:
        raise ValueError(f"{kind} metric without a name")
    container = name_of(block.get("container")) if kind == "ContainerResource" else None
    return HpaMetric(kind, name, target_type, value, container or "")


def _record(item: Mapping[str, Any], warn: Warn) -> HpaRecord:
    meta = item["metadata"]
    namespace, name = name_of(meta.get("namespace")) or "", str(meta["name"])
    where = f"horizontalpodautoscaler {namespace}/{name}"
    spec = mapping(item.get("spec"), f"{where} spec", warn)
    status = mapping(item.get("status"), f"{where} status", warn)
    target = mapping(spec.get("scaleTargetRef"), f"{where} scaleTargetRef", warn)
    kind, workload = name_of(target.get("kind")), name_of(target.get("name"))
    if kind is None or workload is None:
        raise ValueError("scaleTargetRef has no kind or name")
    listed = sequence(spec.get("metrics"), f"{where} metrics", warn)
    metrics = [_metric(mapping(entry, where, warn), where, warn) for entry in listed]
    current, desired = status.get("currentReplicas"), status.get("desiredReplicas")
    return HpaRecord(
        namespace=namespace,
        name=name,
        workload=WorkloadKey(namespace, kind, workload),
        min_replicas=_count(spec.get("minReplicas", 1), "minReplicas"),
        max_replicas=_count(spec.get("maxReplicas"), "maxReplicas"),
        current_replicas=None if current is None else _count(current, "currentReplicas"),
        desired_replicas=None if desired is None else _count(desired, "desiredReplicas"),
        metrics=metrics or [DEFAULT_METRIC],
    )


def hpa_records(items: Iterable[Any], warn: Warn) -> list[HpaRecord]:
    """Return the HorizontalPodAutoscalers; a malformed or duplicated one warns and is left out."""
    found: dict[tuple[str, str], HpaRecord] = {}
    for item in well_formed(items, "horizontalpodautoscalers", warn):
        meta = item["metadata"]
        key = (name_of(meta.get("namespace")) or "", str(meta["name"]))
        where = f"horizontalpodautoscaler {key[0]}/{key[1]}"
        if key in found:
            warn(f"{where} listed twice: the first kept")
            continue
        try:
            found[key] = _record(item, warn)
        except MALFORMED as exc:
            warn(f"{where}: malformed object ignored ({describe(exc)})")
    return list(found.values())
