"""A cluster's raw API objects as the series kube-state-metrics v2 and cAdvisor expose for them.

``Exposition`` turns what a ``Source`` lists at successive instants (the simulator's fleet, or
real payloads) into the samples a Prometheus scraping kube-state-metrics and the kubelet's
cAdvisor would hold, and writes them as OpenMetrics text for ``promtool tsdb
create-blocks-from openmetrics``. It renders their traps too: requests kept for finished and
unscheduled pods, cAdvisor's pod-level (``container=""``) and pause (``container="POD"``) series
and the node root cgroup (``id="/"``), and optionally a second scrape job duplicating every
kube-state-metrics series.

Timing: an instant ``t`` stands for the step (t - step, t]. A gauge is sampled at t - 15 s, so a
query at t sees it and one at t + step (past the 5-minute lookback) no longer does; a CPU counter
is sampled at t - step + 15 s and t - 15 s, so ``rate(...[step])`` at t is the usage of the step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from collectors.quantity import parse
from collectors.source import Kind, KindUnavailable, Source

LabelSet = tuple[tuple[str, str], ...]
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
_UNITS = {"cpu": "core", "memory": "byte", "ephemeral-storage": "byte"}
COUNTERS = frozenset({"container_cpu_usage_seconds_total", "kube_pod_container_status_restarts_total"})
KSM_JOB, CADVISOR_JOB = "kube-state-metrics", "kubelet"


def _resource(name: str) -> tuple[str, str]:
    return _SANITIZE.sub("_", name), _UNITS.get(name, "integer")


def _labels(prefix: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    return {**prefix, **{"label_" + _SANITIZE.sub("_", k): str(v) for k, v in values.items()}}


class Exposition:
    """Samples of one or more clusters, added an instant at a time, written as OpenMetrics."""

    def __init__(
        self, *, step_seconds: float, duplicate_ksm: bool = False, drop: frozenset[str] = frozenset()
    ) -> None:
        self.step = step_seconds
        self.duplicate_ksm = duplicate_ksm
        self.drop = drop  # families left out (a kube-state-metrics without them)
        self._series: dict[str, dict[LabelSet, list[tuple[float, float]]]] = defaultdict(dict)
        self._counters: dict[tuple[str, LabelSet], float] = {}

    def _gauge(self, name: str, labels: Mapping[str, str], value: float, at: float, job: str) -> None:
        if name in self.drop:
            return
        jobs = [job, f"{job}-2"] if job == KSM_JOB and self.duplicate_ksm else [job]
        for each in jobs:
            key = tuple(sorted({**labels, "job": each, "instance": f"{each}:8080"}.items()))
            self._series[name].setdefault(key, []).append((at - 15.0, value))

    def _counter(self, name: str, labels: Mapping[str, str], rate: float, at: float, job: str) -> None:
        if name in self.drop:
            return
        key = tuple(sorted({**labels, "job": job, "instance": f"{job}:10250"}.items()))
        total = self._counters.get((name, key), 0.0)
        points = self._series[name].setdefault(key, [])
        points.append((at - self.step + 15.0, total + rate * 15.0))
        points.append((at - 15.0, total + rate * (self.step - 15.0)))
        self._counters[(name, key)] = total + rate * self.step

    def add(self, source: Source, at: datetime, *, cluster: str | None = None) -> None:
        """Add the samples of everything ``source`` lists, as of the instant ``at``."""
        t = at.timestamp()
        extra = {"cluster": cluster} if cluster else {}
        for ns in _all(source, Kind.NAMESPACES):
            meta = ns.get("metadata", {})
            self._ksm(
                "kube_namespace_labels",
                _labels({**extra, "namespace": meta["name"]}, meta.get("labels") or {}),
                1,
                t,
            )
        for node in _all(source, Kind.NODES):
            self._node(node, extra, t)
        for rs in _all(source, Kind.REPLICASETS):
            self._owned("kube_replicaset_owner", "replicaset", rs, extra, t)
        for job in _all(source, Kind.JOBS):
            self._owned("kube_job_owner", "job_name", job, extra, t)
        for quota in _all(source, Kind.RESOURCEQUOTAS):
            meta, status = quota["metadata"], quota.get("status") or {}
            for kind in ("hard", "used"):
                for resource, raw in (status.get(kind) or {}).items():
                    labels = {
                        **extra,
                        "namespace": meta["namespace"],
                        "resourcequota": meta["name"],
                        "resource": resource,
                        "type": kind,
                    }
                    self._ksm("kube_resourcequota", labels, parse(raw), t)
        for pod in _all(source, Kind.PODS):
            self._pod(pod, extra, t)
        self._storage(source, extra, t)
        for hpa in _all(source, Kind.HORIZONTALPODAUTOSCALERS):
            self._autoscaler(hpa, extra, t)
        for metrics in _all(source, Kind.POD_METRICS):
            self._pod_usage(metrics, extra, t)
        for metrics in _all(source, Kind.NODE_METRICS):
            name = metrics["metadata"]["name"]
            labels = {**extra, "id": "/", "node": name}
            self._counter(
                "container_cpu_usage_seconds_total", labels, parse(metrics["usage"]["cpu"]), t, CADVISOR_JOB
            )
            self._gauge(
                "container_memory_working_set_bytes",
                labels,
                parse(metrics["usage"]["memory"]),
                t,
                CADVISOR_JOB,
            )

    def _ksm(self, name: str, labels: Mapping[str, str], value: float, at: float) -> None:
        self._gauge(name, labels, value, at, KSM_JOB)

    def _node(self, node: Mapping[str, Any], extra: Mapping[str, str], t: float) -> None:
        meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
        base = {**extra, "node": meta["name"]}
        self._ksm("kube_node_info", {**base, "kubelet_version": "v1.30.0"}, 1, t)
        self._ksm("kube_node_labels", _labels(base, meta.get("labels") or {}), 1, t)
        for family, block in (
            ("kube_node_status_capacity", status.get("capacity")),
            ("kube_node_status_allocatable", status.get("allocatable")),
        ):
            for resource, raw in (block or {}).items():
                name, unit = _resource(resource)
                self._ksm(family, {**base, "resource": name, "unit": unit}, parse(raw), t)
        self._ksm("kube_node_spec_unschedulable", base, 1 if spec.get("unschedulable") else 0, t)
        ready = next(
            (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown"
        )
        for value in ("true", "false", "unknown"):
            labels = {**base, "condition": "Ready", "status": value}
            self._ksm("kube_node_status_condition", labels, 1 if str(ready).lower() == value else 0, t)
        for taint in spec.get("taints") or []:
            labels = {
                **base,
                "key": taint.get("key", ""),
                "value": taint.get("value", ""),
                "effect": taint.get("effect", ""),
            }
            self._ksm("kube_node_spec_taint", labels, 1, t)

    def _owned(
        self, family: str, name_label: str, item: Mapping[str, Any], extra: Mapping[str, str], t: float
    ) -> None:
        meta = item["metadata"]
        refs = meta.get("ownerReferences") or [{"kind": "<none>", "name": "<none>"}]
        for ref in refs:
            labels = {
                **extra,
                "namespace": meta["namespace"],
                name_label: meta["name"],
                "owner_kind": ref["kind"],
                "owner_name": ref["name"],
                "owner_is_controller": str(bool(ref.get("controller"))).lower(),
            }
            self._ksm(family, labels, 1, t)

    def _pod(self, pod: Mapping[str, Any], extra: Mapping[str, str], t: float) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        base = {**extra, "namespace": meta["namespace"], "pod": meta["name"], "uid": meta.get("uid", "")}
        node = spec.get("nodeName", "")
        self._ksm("kube_pod_info", {**base, "node": node, "host_network": "false"}, 1, t)
        phase = status.get("phase", "Unknown")
        for each in _PHASES:
            self._ksm("kube_pod_status_phase", {**base, "phase": each}, 1 if each == phase else 0, t)
        refs = meta.get("ownerReferences") or [{"kind": "<none>", "name": "<none>"}]
        for ref in refs:
            labels = {
                **base,
                "owner_kind": ref["kind"],
                "owner_name": ref["name"],
                "owner_is_controller": str(bool(ref.get("controller"))).lower(),
            }
            self._ksm("kube_pod_owner", labels, 1, t)
        self._ksm("kube_pod_labels", _labels(base, meta.get("labels") or {}), 1, t)
        for key, prefix in (
            ("containers", "kube_pod_container"),
            ("initContainers", "kube_pod_init_container"),
        ):
            for c in spec.get(key) or []:
                labels = {**base, "container": c["name"]}
                info = {**labels, "image": c.get("image", "")}
                if key == "initContainers" and c.get("restartPolicy"):
                    info["restart_policy"] = c["restartPolicy"]
                self._ksm(f"{prefix}_info", info, 1, t)
                for kind in ("requests", "limits"):
                    for resource, raw in ((c.get("resources") or {}).get(kind) or {}).items():
                        name, unit = _resource(resource)
                        self._ksm(
                            f"{prefix}_resource_{kind}",
                            {**labels, "node": node, "resource": name, "unit": unit},
                            parse(raw),
                            t,
                        )
        for volume in spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                labels = {**base, "volume": volume.get("name", ""), "persistentvolumeclaim": claim}
                self._ksm("kube_pod_spec_volumes_persistentvolumeclaims_info", labels, 1, t)
        overhead = spec.get("overhead") or {}
        if "cpu" in overhead:
            self._ksm("kube_pod_overhead_cpu_cores", base, parse(overhead["cpu"]), t)
        if "memory" in overhead:
            self._ksm("kube_pod_overhead_memory_bytes", base, parse(overhead["memory"]), t)
        for key in ("containerStatuses", "initContainerStatuses"):
            for cs in status.get(key) or []:
                labels = {**base, "container": cs["name"]}
                self._ksm(
                    "kube_pod_container_status_restarts_total", labels, float(cs.get("restartCount") or 0), t
                )
                last = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason")
                if last:
                    self._ksm(
                        "kube_pod_container_status_last_terminated_reason", {**labels, "reason": last}, 1, t
                    )

    def _storage(self, source: Source, extra: Mapping[str, str], t: float) -> None:
        """Volumes, claims, StorageClasses and LoadBalancer Services (no selectors: kube-state-metrics
        exposes none)."""
        for sc in _all(source, Kind.STORAGECLASSES):
            labels = {**extra, "storageclass": sc["metadata"]["name"],
                      "provisioner": sc.get("provisioner", ""),
                      "reclaim_policy": sc.get("reclaimPolicy", "Delete"),
                      "volume_binding_mode": sc.get("volumeBindingMode", "Immediate")}  # fmt: skip
            self._ksm("kube_storageclass_info", labels, 1, t)
        for pv in _all(source, Kind.PERSISTENTVOLUMES):
            spec, base = pv.get("spec") or {}, {**extra, "persistentvolume": pv["metadata"]["name"]}
            info = {**base, "storageclass": spec.get("storageClassName", ""),
                    "csi_driver": (spec.get("csi") or {}).get("driver", ""),
                    "host_path": (spec.get("hostPath") or {}).get("path", ""),
                    "local_path": (spec.get("local") or {}).get("path", "")}  # fmt: skip
            self._ksm("kube_persistentvolume_info", info, 1, t)
            if "storage" in (spec.get("capacity") or {}):
                self._ksm("kube_persistentvolume_capacity_bytes", base, parse(spec["capacity"]["storage"]), t)
            phase = (pv.get("status") or {}).get("phase", "")
            for each in ("Pending", "Available", "Bound", "Released", "Failed"):
                self._ksm(
                    "kube_persistentvolume_status_phase",
                    {**base, "phase": each},
                    1 if each == phase else 0,
                    t,
                )
            ref = spec.get("claimRef") or {}
            if ref.get("name"):
                labels = {**base, "name": ref["name"], "claim_namespace": ref.get("namespace", "")}
                self._ksm("kube_persistentvolume_claim_ref", labels, 1, t)
        for pvc in _all(source, Kind.PERSISTENTVOLUMECLAIMS):
            meta, spec = pvc["metadata"], pvc.get("spec") or {}
            labels = {**extra, "namespace": meta["namespace"], "persistentvolumeclaim": meta["name"],
                      "storageclass": spec.get("storageClassName", ""),
                      "volumename": spec.get("volumeName", "")}  # fmt: skip
            self._ksm("kube_persistentvolumeclaim_info", labels, 1, t)
        for svc in _all(source, Kind.SERVICES):
            meta, spec = svc["metadata"], svc.get("spec") or {}
            base = {
                **extra,
                "namespace": meta["namespace"],
                "service": meta["name"],
                "uid": meta.get("uid", ""),
            }
            self._ksm("kube_service_spec_type", {**base, "type": spec.get("type", "ClusterIP")}, 1, t)
            for entry in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                labels = {**base, "ip": entry.get("ip", ""), "hostname": entry.get("hostname", "")}
                self._ksm("kube_service_status_load_balancer_ingress", labels, 1, t)

    def _autoscaler(self, hpa: Mapping[str, Any], extra: Mapping[str, str], t: float) -> None:
        meta, spec, status = hpa["metadata"], hpa.get("spec") or {}, hpa.get("status") or {}
        base = {**extra, "namespace": meta["namespace"], "horizontalpodautoscaler": meta["name"]}
        ref = spec.get("scaleTargetRef") or {}
        info = {**base, "scaletargetref_api_version": ref.get("apiVersion", ""),
                "scaletargetref_kind": ref.get("kind", ""),
                "scaletargetref_name": ref.get("name", "")}  # fmt: skip
        self._ksm("kube_horizontalpodautoscaler_info", info, 1, t)
        for family, value in (
            ("kube_horizontalpodautoscaler_spec_min_replicas", spec.get("minReplicas", 1)),
            ("kube_horizontalpodautoscaler_spec_max_replicas", spec.get("maxReplicas")),
            ("kube_horizontalpodautoscaler_status_current_replicas", status.get("currentReplicas")),
            ("kube_horizontalpodautoscaler_status_desired_replicas", status.get("desiredReplicas")),
        ):
            if value is not None:
                self._ksm(family, base, float(value), t)
        for metric in spec.get("metrics") or []:
            block: Mapping[str, Any] = next((v for k, v in metric.items() if k != "type"), {})
            name = block.get("name") or (block.get("metric") or {}).get("name", "")
            target = block.get("target") or {}
            kind = {"Utilization": "utilization", "AverageValue": "average"}.get(
                str(target.get("type")), "value"
            )
            raw = target.get("averageUtilization", target.get("averageValue", target.get("value", 0)))
            labels = {**base, "metric_name": name, "metric_target_type": kind}
            self._ksm("kube_horizontalpodautoscaler_spec_target_metric", labels, parse(raw), t)

    def _pod_usage(self, metrics: Mapping[str, Any], extra: Mapping[str, str], t: float) -> None:
        meta = metrics["metadata"]
        base = {**extra, "namespace": meta["namespace"], "pod": meta["name"]}
        cgroup = f"/kubepods/pod-{meta['namespace']}-{meta['name']}"
        cpu_total = memory_total = 0.0
        for c in metrics.get("containers") or []:
            cpu, memory = parse(c["usage"]["cpu"]), parse(c["usage"]["memory"])
            cpu_total, memory_total = cpu_total + cpu, memory_total + memory
            labels = {
                **base,
                "container": c["name"],
                "id": f"{cgroup}/{c['name']}",
                "image": "registry/app:1",
            }
            self._counter("container_cpu_usage_seconds_total", labels, cpu, t, CADVISOR_JOB)
            self._gauge("container_memory_working_set_bytes", labels, memory, t, CADVISOR_JOB)
        # the traps: the pause container, and the pod's own cgroup holding the sum of its containers
        pause = {**base, "container": "POD", "id": f"{cgroup}/pause", "image": "registry.k8s.io/pause:3.9"}
        self._counter("container_cpu_usage_seconds_total", pause, 0.0005, t, CADVISOR_JOB)
        self._gauge("container_memory_working_set_bytes", pause, 450_000.0, t, CADVISOR_JOB)
        pod_level = {**base, "container": "", "id": cgroup, "image": ""}
        self._counter("container_cpu_usage_seconds_total", pod_level, cpu_total + 0.0005, t, CADVISOR_JOB)
        self._gauge(
            "container_memory_working_set_bytes", pod_level, memory_total + 450_000.0, t, CADVISOR_JOB
        )

    def write(self, out: TextIO) -> int:
        """Write every sample as OpenMetrics (families grouped, each series in time order); return
        the number of samples written. Clears what was added."""
        written = 0
        for name in sorted(self._series):
            family = name.removesuffix("_total") if name in COUNTERS else name
            out.write(f"# TYPE {family} {'counter' if name in COUNTERS else 'gauge'}\n")
            for labels, points in sorted(self._series[name].items()):
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                for at, value in sorted(points):
                    out.write(f"{name}{{{text}}} {value!r} {at:.3f}\n")
                    written += 1
        out.write("# EOF\n")
        self._series.clear()
        return written


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _all(source: Source, kind: Kind) -> Iterator[Mapping[str, Any]]:
    try:
        pages: Iterable[list[Any]] = list(source.pages(kind))
    except KindUnavailable:
        return
    for page in pages:
        yield from page
