"""HPA-aware right-sizing: what lowering (or raising) a request does to a workload that a
HorizontalPodAutoscaler scales on CPU or memory utilization.

The HPA keeps per-replica usage near t x request, so a lower request buys more replicas, not
less money (KRR's maintainers show the loop in its PR #80: request 1 -> 0.8 -> 0.64). For a
workload scaled on the utilization of a resource, per container the HPA counts:
- the per-replica request stays at or above the container's observed peak per-replica usage
  (and the plain recommendation), so the loop cannot spiral down;
- replicas' = clamp(ceil(total usage at the policy's percentile / (t x request')), min, max), the
  total being all replicas' usage together (CPU at the CPU percentile, memory at its peak);
  where that needs more than maxReplicas, request' rises until maxReplicas holds the load at t,
  so the projected utilization never exceeds the target;
- the projected average replicas come from the time series: the same formula over the
  distribution of the total (its histogram), averaged over time.
A ContainerResource metric counts its own container only; a Resource metric every container,
each on its own usage (the busiest ratio wins: at least the replicas the HPA's pooled ratio
gives, so a projection errs towards more replicas, never towards a bigger saving).
What it cannot project, it holds (requests unchanged, no saving, the reason says why): an HPA
pinned at maxReplicas at the busy times, one scaled on Pods, Object or External metrics (its
replicas follow a metric the request does not move), two HPAs on one workload, or less total
history than the policy's minimum. Replicas under an AverageValue target do not depend on the
request: they stay as observed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from capacity.histogram import MEMORY_FIRST_BUCKET, bucket_start, percentile
from capacity.records import HpaMetric

Key = tuple[str, str, str, str]  # cluster, namespace, workload kind, workload
RESOURCES = ("cpu", "memory")
_FIRST = {"cpu": 0.01, "memory": MEMORY_FIRST_BUCKET}
_REQUEST_DRIVEN = ("Resource", "ContainerResource")


@dataclass(frozen=True, slots=True)
class Autoscaler:
    """What one HorizontalPodAutoscaler says of the workload it scales."""

    name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[HpaMetric, ...]


@dataclass(frozen=True, slots=True)
class Demand:
    """One container of a workload: per-replica requests and recommendations, and its history."""

    container: str
    request: Mapping[str, float]  # resource -> per-replica request now
    recommended: Mapping[str, float]  # resource -> the plain per-replica recommendation
    peak: Mapping[str, float]  # resource -> the observed peak per-replica usage
    totals: Mapping[str, Mapping[int, float]]  # resource -> histogram of all replicas' usage, in seconds


@dataclass(frozen=True, slots=True)
class Projection:
    """The requests an HPA-scaled workload should have, and the replicas the HPA would then run.

    ``held``: nothing could be projected; requests stay as they are and ``reason`` says why.
    """

    requests: Mapping[str, Mapping[str, float]]  # container -> resource -> per-replica request'
    replicas: int | None  # replicas' at the busy times (the percentile)
    average_replicas: float  # projected average replicas over the window
    held: bool
    reason: str


def autoscalers_by_workload(frame: pd.DataFrame) -> dict[Key, list[Autoscaler]]:
    """Return the HPAs of each workload from rows of ``cluster, namespace, workload_kind,
    workload, hpa, min_replicas, max_replicas, metrics`` (metrics: a list of HpaMetric fields)."""
    found: dict[Key, list[Autoscaler]] = {}
    columns = [
        "cluster",
        "namespace",
        "workload_kind",
        "workload",
        "hpa",
        "min_replicas",
        "max_replicas",
        "metrics",
    ]
    for cluster, namespace, kind, workload, name, lo, hi, metrics in frame[columns].itertuples(index=False):
        held = tuple(HpaMetric(**metric) for metric in metrics or [])
        found.setdefault((cluster, namespace, kind, workload), []).append(
            Autoscaler(str(name), int(lo), int(hi), held)
        )
    return found


def describe(metric: HpaMetric) -> str:
    """Return one metric target for people: ``cpu 70%``, ``memory 80%``, ``external queue_depth 30``."""
    shown = f"{metric.target:g}%" if metric.target_type == "Utilization" else f"{metric.target:g}"
    prefix = "" if metric.type in _REQUEST_DRIVEN else f"{metric.type.lower()} "
    return f"{prefix}{metric.name} {shown}"


def _hold(demands: Sequence[Demand], replicas: float, reason: str) -> Projection:
    requests = {d.container: dict(d.request) for d in demands}
    return Projection(requests, None, replicas, True, reason)


def _rounded(resource: str, value: float) -> float:
    """Round a request up: CPU to 1m, memory to 1 MiB (as the plain recommendation is)."""
    if resource == "cpu":
        return math.ceil(value * 1000 - 1e-9) / 1000
    return math.ceil(value / MEMORY_FIRST_BUCKET - 1e-9) * MEMORY_FIRST_BUCKET


def _replicas_for(total: float, target: float, request: float) -> float:
    return total / (target * request) if request > 0 else math.inf


def _average(
    hist: Mapping[int, float], first: float, target: float, request: float, bounds: tuple[int, int]
) -> float:
    """The replicas the HPA runs, averaged over time: each bucket's upper edge at its weight."""
    lo, hi = bounds
    weight = sum(hist.values())
    held = sum(
        w * min(max(math.ceil(_replicas_for(bucket_start(int(b) + 1, first=first), target, request)), lo), hi)
        for b, w in hist.items()
    )
    return min(max(held / weight, lo), hi) if weight > 0 else float(lo)  # clamped: float sums drift


def project(
    autoscalers: Sequence[Autoscaler],
    demands: Sequence[Demand],
    *,
    replicas: float,
    cpu_percentile: float,
    min_seconds: float,
) -> Projection:
    """Return what the workload's requests should be under its HPA, and its replicas then.

    ``replicas`` is the observed average; ``min_seconds`` the total history the policy needs.
    """
    if len(autoscalers) != 1:
        names = ", ".join(a.name for a in autoscalers)
        return _hold(demands, replicas, f"scaled by {len(autoscalers)} HPAs ({names}), which the HPA refuses")
    hpa = autoscalers[0]
    bounds = (hpa.min_replicas, hpa.max_replicas)
    for metric in hpa.metrics:
        if metric.type not in _REQUEST_DRIVEN or metric.name not in RESOURCES:
            return _hold(
                demands,
                replicas,
                f"HPA {hpa.name} scales on {describe(metric)}: its replicas follow a metric the request "
                "does not move, so the saving cannot be projected",
            )
    scaled = [m for m in hpa.metrics if m.target_type == "Utilization" and m.target > 0]
    # per container and resource: never below the plain recommendation nor the observed peak
    requests = {
        d.container: {r: _rounded(r, max(d.recommended[r], d.peak[r])) for r in RESOURCES} for d in demands
    }
    if not scaled:  # AverageValue targets: replicas do not follow the request
        return Projection(
            requests, None, replicas, False, f"HPA {hpa.name}: replicas do not follow the request"
        )
    busiest = 0.0
    average = 0.0
    for metric in scaled:
        target = metric.target / 100.0
        rank = cpu_percentile if metric.name == "cpu" else 1.0
        first = _FIRST[metric.name]
        for d in demands:
            if metric.type == "ContainerResource" and d.container != metric.container:
                continue
            if d.request[metric.name] <= 0:
                return _hold(
                    demands,
                    replicas,
                    f"HPA {hpa.name}: container {d.container} requests no {metric.name}, so the HPA "
                    "cannot compute its utilization",
                )
            hist = d.totals[metric.name]
            if sum(hist.values()) < min_seconds:
                return _hold(
                    demands,
                    replicas,
                    f"HPA {hpa.name}: {sum(hist.values()) / 3600:.1f} h of total {metric.name} usage; "
                    f"needs {min_seconds / 3600:g} h to project replicas",
                )
            total = percentile(hist, rank, first=first) or 0.0
            now = _replicas_for(total, target, d.request[metric.name])
            if now > hpa.max_replicas:
                return _hold(
                    demands,
                    replicas,
                    f"HPA {hpa.name} pinned at maxReplicas {hpa.max_replicas}: its {metric.name} load "
                    f"needs {now:.1f} replicas at {metric.target:g}% of this request; raise maxReplicas "
                    "before changing the request",
                )
            proposed = requests[d.container][metric.name]
            if _replicas_for(total, target, proposed) > hpa.max_replicas:
                # maxReplicas must still hold the load at the target
                proposed = _rounded(metric.name, total / (target * hpa.max_replicas))
                requests[d.container][metric.name] = proposed
            busiest = max(busiest, _replicas_for(total, target, proposed))
            average = max(average, _average(hist, first, target, proposed, bounds))
    projected = min(max(math.ceil(busiest - 1e-9), hpa.min_replicas), hpa.max_replicas)
    targets = ", ".join(describe(m) for m in scaled)
    reason = (
        f"HPA {hpa.name} on {targets}: {projected} replicas at the busy times, "
        f"{average:.1f} on average (now {replicas:.1f}; {hpa.min_replicas}-{hpa.max_replicas})"
    )
    return Projection(requests, projected, average, False, reason)
