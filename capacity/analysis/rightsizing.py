"""Right-sizing: what each workload container should request, and what that would save.

Per workload container over the recommendation window:
- CPU = a high percentile (default p95) of per-replica usage, from the merged usage histogram;
- memory = peak per-replica working set x (1 + margin, default 15 %);
- floors of 10m CPU and 20 MiB, rounded up to 1m / 1 MiB;
- never lowered below what an observed OOM kill implies (the memory limit it was killed at);
- "not enough data" with under 24 hours of usage samples.
Monthly savings = (current − recommended) x average replicas x unit price x 730 hours, per
resource, counted only where the recommendation is lower: an increase is a risk, listed with
its evidence (usage above request, OOM kills, restarts), never a negative saving.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from capacity.config import ResourceRates
from capacity.histogram import percentile
from capacity.records import POD_OVERHEAD_CONTAINER

MIB = 1024.0**2
GIB = 1024.0**3
HOURS_PER_MONTH = 730.0

COLUMNS = [
    "cluster", "namespace", "workload_kind", "workload", "container", "team", "replicas",
    "cpu_request", "cpu_recommended", "memory_request_bytes", "memory_recommended_bytes",
    "monthly_savings", "action", "reason", "cpu_usage_p", "memory_usage_peak_bytes", "oom_kills",
    "restarts", "usage_hours",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    cpu_percentile: float = 0.95
    memory_margin: float = 0.15
    cpu_floor: float = 0.010  # cores
    memory_floor: float = 20 * MIB
    min_hours: float = 24.0
    tolerance: float = 0.05  # changes smaller than this are "keep"


def recommend_cpu(hist: dict[int, float], policy: Policy) -> float | None:
    """Return the recommended CPU request in cores (percentile, floored, rounded up to 1m)."""
    value = percentile(hist, policy.cpu_percentile)
    if value is None:
        return None
    return math.ceil(max(value, policy.cpu_floor) * 1000 - 1e-9) / 1000


def recommend_memory(peak: float | None, policy: Policy, *, oom_floor: float = 0.0) -> float | None:
    """Return the recommended memory request in bytes (peak + margin, floored, whole MiB)."""
    if peak is None or peak != peak:
        return None
    value = max(peak * (1 + policy.memory_margin), policy.memory_floor, oom_floor)
    return math.ceil(value / MIB - 1e-9) * MIB


def _mib(value: float) -> str:
    return f"{value / MIB:,.0f}Mi"


def _millicores(value: float) -> str:
    return f"{value * 1000:,.0f}m"


class _Row:
    """Typed access to one row of the windowed container sums."""

    def __init__(self, record: dict[Any, Any]) -> None:
        self.cluster = str(record["cluster"])
        self.namespace = str(record["namespace"])
        self.kind = str(record["kind"])
        self.workload = str(record["workload"])
        self.container = str(record["container"])
        self.group = str(record.get("group", ""))
        self.seconds = float(record["seconds"])
        self.replica_seconds = float(record["replica_seconds"])
        self.usage_replica_seconds = float(record["usage_replica_seconds"])
        self.cpu_request_cs = float(record["cpu_request_cs"])
        self.memory_request_bs = float(record["memory_request_bs"])
        self.cpu_cost = float(record["cpu_cost"])
        self.memory_cost = float(record["memory_cost"])
        self.cpu_allocated_cs = float(record["cpu_allocated_cs"])
        self.memory_allocated_bs = float(record["memory_allocated_bs"])
        self.oom_kills_max = _num(record.get("oom_kills_max"))
        self.restarts_max = _num(record.get("restarts_max"))
        self.memory_usage_max = _num(record.get("memory_usage_max"))
        self.memory_limit_max = _num(record.get("memory_limit_max"))
        self.cpu_usage_hist: dict[Any, Any] = record.get("cpu_usage_hist") or {}


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Yield the frame's rows as dicts (``to_dict("records")`` boxes every value one by one)."""
    names = [str(c) for c in frame.columns]
    for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True):
        yield dict(zip(names, values, strict=True))


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def recommendations(
    containers: pd.DataFrame,
    *,
    window_seconds: float,
    rates: ResourceRates,
    policy: Policy = Policy(),
    cluster_seconds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return one recommendation per workload container (columns ``COLUMNS``, then ``workload_id``
    when the containers have it).

    Replicas are the container's replica-seconds over the seconds its cluster was observed in the
    window (``cluster_seconds``; the whole ``window_seconds`` for a cluster not in it): a fleet
    collected for 4 days of a 14-day window has 4 days of replica-seconds, not 14.
    """
    rows = []
    observed = dict(cluster_seconds or {})
    if len(containers) and cluster_seconds is not None:
        # a cluster was observed at least as long as any of its containers (a snapshot whose
        # node list came back empty still holds containers)
        for cluster, seconds in containers.groupby("cluster")["seconds"].max().items():
            observed[str(cluster)] = max(observed.get(str(cluster), 0.0), float(seconds))
    for record in _records(containers):
        row = _Row(record)
        if row.container == POD_OVERHEAD_CONTAINER or row.replica_seconds <= 0:
            continue
        replicas = row.replica_seconds / (observed.get(row.cluster) or window_seconds)
        cpu_request = row.cpu_request_cs / row.replica_seconds
        memory_request = row.memory_request_bs / row.replica_seconds
        avg_present = row.replica_seconds / row.seconds if row.seconds > 0 else 0.0
        usage_hours = (row.usage_replica_seconds / avg_present / 3600.0) if avg_present > 0 else 0.0
        cpu_price = (
            row.cpu_cost / (row.cpu_allocated_cs / 3600.0)
            if row.cpu_allocated_cs > 0
            else rates.cpu_core_hour
        )
        mem_price = (
            row.memory_cost / (row.memory_allocated_bs / 3600.0)
            if row.memory_allocated_bs > 0
            else rates.memory_gib_hour / GIB
        )
        ooms = int(row.oom_kills_max or 0)
        restarts = int(row.restarts_max or 0)
        peak = row.memory_usage_max
        hist = {int(k): float(v) for k, v in (row.cpu_usage_hist or {}).items()}
        p_cpu = percentile(hist, policy.cpu_percentile)
        base = {
            "cluster": row.cluster, "namespace": row.namespace, "workload_kind": row.kind,
            "workload": row.workload, "container": row.container, "team": row.group,
            "replicas": replicas, "cpu_request": cpu_request, "memory_request_bytes": memory_request,
            "cpu_usage_p": p_cpu, "memory_usage_peak_bytes": peak, "oom_kills": ooms, "restarts": restarts,
            "usage_hours": usage_hours, "workload_id": record.get("workload_id"),
        }  # fmt: skip
        if usage_hours < policy.min_hours or not hist or peak is None:
            rows.append(
                {**base, "cpu_recommended": None, "memory_recommended_bytes": None, "monthly_savings": 0.0,
                 "action": "not enough data",
                 "reason": f"{usage_hours:.1f} h of usage samples; needs {policy.min_hours:g} h"}
            )  # fmt: skip
            continue
        limit = row.memory_limit_max
        # An OOM kill means the container needed at least the limit it was killed at.
        oom_floor = (limit or memory_request) if ooms else 0.0
        cpu_rec = recommend_cpu(hist, policy)
        mem_rec = recommend_memory(peak, policy, oom_floor=oom_floor)
        assert cpu_rec is not None and mem_rec is not None
        savings = (
            (max(0.0, cpu_request - cpu_rec) * cpu_price + max(0.0, memory_request - mem_rec) * mem_price)
            * replicas
            * HOURS_PER_MONTH
        )
        up_cpu = cpu_rec > cpu_request * (1 + policy.tolerance)
        up_mem = mem_rec > memory_request * (1 + policy.tolerance)
        evidence = [
            f"p{policy.cpu_percentile * 100:g} CPU {_millicores(p_cpu or 0)} "
            f"vs request {_millicores(cpu_request)}",
            f"peak memory {_mib(peak)} vs request {_mib(memory_request)}",
        ]
        if ooms:
            evidence.append(f"{ooms} OOM kill(s) at limit {_mib(limit) if limit else 'none'}")
        if restarts:
            evidence.append(f"{restarts} restart(s)")
        if up_cpu or up_mem or ooms:
            action = "increase"
            savings_kept = savings if not (up_cpu and up_mem) else 0.0
        elif cpu_rec < cpu_request * (1 - policy.tolerance) or mem_rec < memory_request * (
            1 - policy.tolerance
        ):
            action = "reduce"
            savings_kept = savings
        else:
            action = "keep"
            savings_kept = 0.0
        rows.append(
            {**base, "cpu_recommended": cpu_rec, "memory_recommended_bytes": mem_rec,
             "monthly_savings": savings_kept, "action": action, "reason": "; ".join(evidence)}
        )  # fmt: skip
    columns = [*COLUMNS, "workload_id"] if "workload_id" in containers else COLUMNS
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("monthly_savings", ascending=False, kind="stable").reset_index(drop=True)
