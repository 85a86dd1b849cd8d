"""One instant's kube-state-metrics series → the HorizontalPodAutoscalers the live API would have
listed (``rebuild.InstantSource``).

kube-state-metrics names a target metric (``metric_name``) without its source type: ``cpu`` and
``memory`` are taken as Resource metrics, any other name as External (Pods and Object metrics
come back as External: scaled on something other than a resource, which is what right-sizing
needs to know).
"""

from __future__ import annotations

from collections import defaultdict

from collectors.prometheus.rebuild_storage import Of
from collectors.source import RawObject

_TARGET_TYPES = {"utilization": "Utilization", "average": "AverageValue", "value": "Value"}
_VALUE_KEYS = {"Utilization": "averageUtilization", "AverageValue": "averageValue", "Value": "value"}
_COUNTS = {
    "kube_horizontalpodautoscaler_spec_min_replicas": ("spec", "minReplicas"),
    "kube_horizontalpodautoscaler_spec_max_replicas": ("spec", "maxReplicas"),
    "kube_horizontalpodautoscaler_status_current_replicas": ("status", "currentReplicas"),
    "kube_horizontalpodautoscaler_status_desired_replicas": ("status", "desiredReplicas"),
}


def _metric(name: str, target_type: str, value: float) -> RawObject:
    kind = _TARGET_TYPES.get(target_type, "Value")
    target: dict[str, object] = {"type": kind}
    target[_VALUE_KEYS[kind]] = round(value) if kind == "Utilization" else repr(value)
    if name in ("cpu", "memory"):
        return {"type": "Resource", "resource": {"name": name, "target": target}}
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


def autoscalers(of: Of) -> list[RawObject]:
    found: dict[tuple[str, str], RawObject] = {}
    for lab, _ in of("kube_horizontalpodautoscaler_info"):
        key = (lab.get("namespace", ""), lab.get("horizontalpodautoscaler", ""))
        ref = {"kind": lab.get("scaletargetref_kind", ""), "name": lab.get("scaletargetref_name", "")}
        found.setdefault(key, {"metadata": {"namespace": key[0], "name": key[1]},
                               "spec": {"scaleTargetRef": ref, "metrics": []}, "status": {}})  # fmt: skip
    for family, (block, field) in _COUNTS.items():
        for lab, value in of(family):
            held = found.get((lab.get("namespace", ""), lab.get("horizontalpodautoscaler", "")))
            if held is not None:
                held[block][field] = round(value)
    metrics: dict[tuple[str, str], list[RawObject]] = defaultdict(list)
    for lab, value in of("kube_horizontalpodautoscaler_spec_target_metric"):
        key = (lab.get("namespace", ""), lab.get("horizontalpodautoscaler", ""))
        metrics[key].append(_metric(lab.get("metric_name", ""), lab.get("metric_target_type", ""), value))
    for key, held in found.items():
        held["spec"]["metrics"] = metrics.get(key, [])
    return [found[key] for key in sorted(found) if key[1]]
