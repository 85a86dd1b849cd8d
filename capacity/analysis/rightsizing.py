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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from capacity.analysis.autoscaling import Autoscaler, Demand, Key, describe, project
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
    "restarts", "usage_hours", "hpa", "hpa_target", "replicas_projected",
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
        self.cpu_usage_max = _num(record.get("cpu_usage_max"))
        self.memory_usage_max = _num(record.get("memory_usage_max"))
        self.memory_limit_max = _num(record.get("memory_limit_max"))
        self.cpu_usage_hist: dict[Any, Any] = record.get("cpu_usage_hist") or {}


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Yield the frame's rows as dicts (``to_dict("records")`` boxes every value one by one)."""
    names = [str(c) for c in frame.columns]
    for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True):
        yield dict(zip(names, values, strict=True))


def _hist(value: Any) -> dict[int, float]:
    return {int(k): float(v) for k, v in (value or {}).items()}


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


@dataclass(slots=True)
class _Sized:
    """One container with enough data: its requests, plain recommendation and unit prices."""

    container: str
    base: dict[str, Any]  # the row's columns that do not depend on the recommendation
    replicas: float
    cpu: float  # per-replica request now
    memory: float
    ooms: int
    cpu_rec: float
    mem_rec: float
    cpu_price: float  # per core-hour
    mem_price: float  # per byte-hour
    evidence: list[str]

    def verdict(self, cpu_rec: float, mem_rec: float, tolerance: float) -> str:
        if cpu_rec > self.cpu * (1 + tolerance) or mem_rec > self.memory * (1 + tolerance) or self.ooms:
            return "increase"
        if cpu_rec < self.cpu * (1 - tolerance) or mem_rec < self.memory * (1 - tolerance):
            return "reduce"
        return "keep"

    def monthly(self, cpu_rec: float, mem_rec: float, replicas_after: float) -> float:
        """Monthly cost now minus at ``cpu_rec``/``mem_rec`` on ``replicas_after`` (may be negative)."""
        return (
            (self.cpu * self.replicas - cpu_rec * replicas_after) * self.cpu_price
            + (self.memory * self.replicas - mem_rec * replicas_after) * self.mem_price
        ) * HOURS_PER_MONTH

    def plain(self, tolerance: float) -> dict[str, Any]:
        """The recommendation of a workload no HPA scales: the same replicas, each one smaller."""
        action = self.verdict(self.cpu_rec, self.mem_rec, tolerance)
        saving = (
            (max(0.0, self.cpu - self.cpu_rec) * self.cpu_price)
            + (max(0.0, self.memory - self.mem_rec) * self.mem_price)
        ) * (self.replicas * HOURS_PER_MONTH)
        both_up = self.cpu_rec > self.cpu * (1 + tolerance) and self.mem_rec > self.memory * (1 + tolerance)
        kept = 0.0 if action == "keep" or (action == "increase" and both_up) else saving
        return self.finished(self.cpu_rec, self.mem_rec, kept, action, "; ".join(self.evidence))

    def finished(
        self, cpu_rec: float, mem_rec: float, saving: float, action: str, reason: str
    ) -> dict[str, Any]:
        return {**self.base, "cpu_recommended": cpu_rec, "memory_recommended_bytes": mem_rec,
                "monthly_savings": saving, "action": action, "reason": reason}  # fmt: skip


def _scaled(
    containers: list[tuple[_Sized, Demand]], hpas: Sequence[Autoscaler], policy: Policy
) -> list[dict[str, Any]]:
    """The recommendations of one HPA-scaled workload's containers (see capacity.analysis.autoscaling).

    The workload's saving counts every container on the projected replicas (a sidecar the
    HPA multiplies costs more); it is shared among the containers that save, never negative.
    """
    group = [s for s, _ in containers]
    replicas = max(s.replicas for s in group)
    found = project(
        hpas, [d for _, d in containers], replicas=replicas,
        cpu_percentile=policy.cpu_percentile, min_seconds=policy.min_hours * 3600.0,
    )  # fmt: skip
    recs = [(found.requests[s.container]["cpu"], found.requests[s.container]["memory"]) for s in group]
    parts = [s.monthly(cpu, mem, found.average_replicas) for s, (cpu, mem) in zip(group, recs, strict=True)]
    actions = [s.verdict(cpu, mem, policy.tolerance) for s, (cpu, mem) in zip(group, recs, strict=True)]
    net = sum(parts)
    reason = found.reason
    if not found.held and net <= 0 and "increase" not in actions:
        found = replace(found, held=True)
        reason = f"{reason}; the replicas it adds cost more than the smaller requests save"
    out = []
    positive = sum(max(0.0, p) for p in parts)
    for s, (cpu, mem), part, action in zip(group, recs, parts, actions, strict=True):
        evidence = "; ".join([reason, *s.evidence])
        if found.held:
            # no request lowered; a risk (an OOM kill, usage over the request) still raises one
            raised = s.verdict(s.cpu_rec, s.mem_rec, policy.tolerance) == "increase"
            cpu, mem = (max(s.cpu, s.cpu_rec), max(s.memory, s.mem_rec)) if raised else (s.cpu, s.memory)
            action, saving = ("increase" if raised else "keep"), 0.0
        else:
            saving = max(0.0, net) * max(0.0, part) / positive if positive > 0 else 0.0
        out.append({**s.finished(cpu, mem, saving, action, evidence), "replicas_projected": found.replicas})
    return out


def recommendations(
    containers: pd.DataFrame,
    *,
    window_seconds: float,
    rates: ResourceRates,
    policy: Policy = Policy(),
    cluster_seconds: Mapping[str, float] | None = None,
    autoscalers: Mapping[Key, Sequence[Autoscaler]] | None = None,
) -> pd.DataFrame:
    """Return one recommendation per workload container (columns ``COLUMNS``, then ``workload_id``
    when the containers have it).

    Replicas are the container's replica-seconds over the seconds its cluster was observed in the
    window (``cluster_seconds``; the whole ``window_seconds`` for a cluster not in it): a fleet
    collected for 4 days of a 14-day window has 4 days of replica-seconds, not 14. A workload in
    ``autoscalers`` (the HPAs that scale it) is right-sized with them (``_scaled``).
    """
    rows = []
    hpas = autoscalers or {}
    observed = dict(cluster_seconds or {})
    if len(containers) and cluster_seconds is not None:
        # a cluster was observed at least as long as any of its containers (a snapshot whose
        # node list came back empty still holds containers)
        for cluster, seconds in containers.groupby("cluster")["seconds"].max().items():
            observed[str(cluster)] = max(observed.get(str(cluster), 0.0), float(seconds))
    scaled: dict[Key, list[tuple[_Sized, Demand]]] = {}
    for record in _records(containers):
        row = _Row(record)
        if row.container == POD_OVERHEAD_CONTAINER or row.replica_seconds <= 0:
            continue
        key = (row.cluster, row.namespace, row.kind, row.workload)
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
        held = hpas.get(key, ())
        base = {
            "cluster": row.cluster, "namespace": row.namespace, "workload_kind": row.kind,
            "workload": row.workload, "container": row.container, "team": row.group,
            "replicas": replicas, "cpu_request": cpu_request, "memory_request_bytes": memory_request,
            "cpu_usage_p": p_cpu, "memory_usage_peak_bytes": peak, "oom_kills": ooms, "restarts": restarts,
            "usage_hours": usage_hours, "hpa": ",".join(h.name for h in held),
            "hpa_target": "; ".join(", ".join(describe(m) for m in h.metrics) for h in held),
            "replicas_projected": None, "workload_id": record.get("workload_id"),
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
        evidence = [
            f"p{policy.cpu_percentile * 100:g} CPU {_millicores(p_cpu or 0)} "
            f"vs request {_millicores(cpu_request)}",
            f"peak memory {_mib(peak)} vs request {_mib(memory_request)}",
        ]
        if ooms:
            evidence.append(f"{ooms} OOM kill(s) at limit {_mib(limit) if limit else 'none'}")
        if restarts:
            evidence.append(f"{restarts} restart(s)")
        sized = _Sized(
            row.container, base, replicas, cpu_request, memory_request, ooms,
            cpu_rec, mem_rec, cpu_price, mem_price, evidence,
        )  # fmt: skip
        if held:  # what the HPA's projection needs of it
            demand = Demand(
                container=row.container,
                request={"cpu": cpu_request, "memory": memory_request},
                recommended={"cpu": cpu_rec, "memory": mem_rec},
                peak={"cpu": row.cpu_usage_max or 0.0, "memory": peak},
                totals={
                    "cpu": _hist(record.get("cpu_total_hist")),
                    "memory": _hist(record.get("memory_total_hist")),
                },
            )
            scaled.setdefault(key, []).append((sized, demand))
        else:
            rows.append(sized.plain(policy.tolerance))
    for key, group in scaled.items():
        rows.extend(_scaled(group, hpas[key], policy))
    columns = [*COLUMNS, "workload_id"] if "workload_id" in containers else COLUMNS
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("monthly_savings", ascending=False, kind="stable").reset_index(drop=True)
