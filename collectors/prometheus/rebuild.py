"""One instant's series → the raw Kubernetes objects the live API would have listed then.

A backfilled snapshot takes the live collector's whole path (``collectors.collect``): this
module only turns kube-state-metrics and cAdvisor samples back into Nodes, Pods, Namespaces,
ReplicaSets, Jobs, ResourceQuotas, metrics.k8s.io objects and (``rebuild_storage``) volumes,
claims, StorageClasses and LoadBalancer Services (``InstantSource``). Quantities
are rendered exactly (nanocores, bytes). Label names come back from kube-state-metrics'
``label_<sanitized>`` form: the keys the collector and the configuration read are restored
(``node.kubernetes.io/instance-type``, the attribution label keys), others stay sanitized.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from capacity.analysis.scheduling import INSTANCE_TYPE_LABELS
from collectors.gpu_units import DEVICES, HAMI_CORES, is_gpu_resource
from collectors.nodes import (
    NODE_POOL_LABELS,
    REGION_LABELS,
    SPOT_LABEL_KEYS,
    ZONE_LABELS,
)
from collectors.prometheus import rebuild_autoscalers, rebuild_storage
from collectors.prometheus.client import Labels
from collectors.shapes import Container, Node, OwnerReference, Pod
from collectors.source import Kind, KindUnavailable, RawObject

# family name -> (labels, value) of each series at this instant
Samples = Mapping[str, list[tuple[Labels, float]]]
PodKey = tuple[str, str]  # namespace, pod

_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
WELL_KNOWN_LABELS = (
    *INSTANCE_TYPE_LABELS,
    *ZONE_LABELS,
    *REGION_LABELS,
    *NODE_POOL_LABELS,
    *SPOT_LABEL_KEYS,
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "node.kubernetes.io/lifecycle",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
    "app.kubernetes.io/team",
    # what owner resolution reads when the ReplicaSet and Job families are missing
    "pod-template-hash",
    "rollouts-pod-template-hash",
    "controller-revision-hash",
    "job-name",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
)


def sanitized(key: str) -> str:
    """Return a label key as kube-state-metrics names it (``label_`` + invalid characters as ``_``)."""
    return "label_" + _SANITIZE.sub("_", key)


def label_restorer(keys: Iterable[str]) -> dict[str, str]:
    """Return sanitized name -> original key for the keys given and the well-known ones."""
    return {sanitized(key): key for key in (*WELL_KNOWN_LABELS, *keys)}


def _restored(labels: Labels, restore: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in labels.items():
        if name.startswith("label_"):
            out[restore.get(name, name.removeprefix("label_"))] = value
    return out


_RESOURCE = {"cpu": "cpu", "memory": "memory", **{_SANITIZE.sub("_", g): g for g in (*DEVICES, HAMI_CORES)}}
_RESOURCE.update({g: g for g in (*DEVICES, HAMI_CORES)})
_SANITIZED_MIG = re.compile(r"^nvidia_com_mig_(?P<profile>(?:\d+c_)?\d+g_\d+gb)$")


def _resource_name(resource: str) -> str | None:
    """The resource a kube-state-metrics ``resource`` label names (it sanitizes ``.``, ``/`` and ``-``)."""
    known = _RESOURCE.get(resource)
    if known is not None:
        return known
    if is_gpu_resource(resource):
        return resource
    found = _SANITIZED_MIG.match(resource)
    return f"nvidia.com/mig-{found['profile'].replace('_', '.')}" if found else None


def quantity(resource: str, value: float) -> str:
    """Return a value in base units as an exact Kubernetes quantity (cpu in nanocores)."""
    if resource == "cpu":
        return f"{round(value * 1e9)}n"
    return str(round(value))


def _quantities(entries: Iterable[tuple[str, float]]) -> dict[str, str]:
    out = {}
    for resource, value in entries:
        name = _resource_name(resource)
        if name is not None:
            out[name] = quantity(name, value)
    return out


# kinds rebuilt by rebuild_storage and rebuild_autoscalers: the family without which the kind is
# unavailable, and the builder
_STORAGE: dict[Kind, tuple[str, Callable[[rebuild_storage.Of], list[RawObject]]]] = {
    Kind.PERSISTENTVOLUMES: ("kube_persistentvolume_capacity_bytes", rebuild_storage.volumes),
    Kind.PERSISTENTVOLUMECLAIMS: ("kube_persistentvolumeclaim_info", rebuild_storage.claims),
    Kind.STORAGECLASSES: ("kube_storageclass_info", rebuild_storage.storage_classes),
    Kind.SERVICES: ("kube_service_spec_type", rebuild_storage.load_balancers),
    Kind.HORIZONTALPODAUTOSCALERS: (
        "kube_horizontalpodautoscaler_info",
        rebuild_autoscalers.autoscalers,
    ),
}


@dataclass
class _PodParts:
    node: str = ""
    uid: str = ""
    phase: str = "Running"
    owners: list[OwnerReference] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    containers: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # name -> kind -> res
    inits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    sidecars: set[str] = field(default_factory=set)
    init_order: list[str] = field(default_factory=list)
    overhead: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    oom: set[str] = field(default_factory=set)


class InstantSource:
    """A ``collectors.source.Source`` over one instant's samples of a Prometheus."""

    def __init__(self, samples: Samples, *, restore: Mapping[str, str], missing: frozenset[str]) -> None:
        self._samples = samples
        self._restore = restore
        self._missing = missing  # families with no series at all in this backfill

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        build = {
            Kind.NAMESPACES: self._namespaces,
            Kind.NODES: self._nodes,
            Kind.PODS: self._pods,
            Kind.REPLICASETS: self._replicasets,
            Kind.JOBS: self._jobs,
            Kind.RESOURCEQUOTAS: self._quotas,
            Kind.POD_METRICS: self._pod_metrics,
            Kind.NODE_METRICS: self._node_metrics,
        }.get(kind)
        if build is None:  # volumes, claims, StorageClasses, Services: by the family each needs
            family, rebuilt = _STORAGE[kind]
            self._unavailable(kind, family)
            yield rebuilt(self._of)
            return
        yield build()

    def _of(self, family: str) -> list[tuple[Labels, float]]:
        return self._samples.get(family, [])

    def _unavailable(self, kind: Kind, *families: str) -> None:
        gone = [f for f in families if f in self._missing]
        if gone:
            raise KindUnavailable(kind, None, f"{kind.label}: Prometheus has no {' or '.join(gone)} series")

    def _namespaces(self) -> list[RawObject]:
        found: dict[str, dict[str, str]] = {}
        for labels, _ in self._of("kube_namespace_labels"):
            found.setdefault(labels.get("namespace", ""), _restored(labels, self._restore))
        for labels, _ in self._of("kube_pod_info"):
            found.setdefault(labels.get("namespace", ""), {})
        return [{"metadata": {"name": n, "labels": found[n]}} for n in sorted(found) if n]

    def _nodes(self) -> list[RawObject]:
        capacity: dict[str, list[tuple[str, float]]] = defaultdict(list)
        allocatable: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for labels, value in self._of("kube_node_status_capacity"):
            capacity[labels.get("node", "")].append((labels.get("resource", ""), value))
        for labels, value in self._of("kube_node_status_allocatable"):
            allocatable[labels.get("node", "")].append((labels.get("resource", ""), value))
        node_labels = {
            lab.get("node", ""): _restored(lab, self._restore) for lab, _ in self._of("kube_node_labels")
        }
        ready = {lab.get("node", "") for lab, v in self._of("kube_node_status_condition") if v == 1}
        cordoned = {lab.get("node", "") for lab, v in self._of("kube_node_spec_unschedulable") if v == 1}
        taints: dict[str, list[dict[str, object]]] = defaultdict(list)
        for lab, _ in self._of("kube_node_spec_taint"):
            taints[lab.get("node", "")].append({k: lab[k] for k in ("key", "value", "effect") if lab.get(k)})
        readiness_known = "kube_node_status_condition" not in self._missing
        nodes: list[RawObject] = []
        for name in sorted(set(capacity) | set(allocatable)):
            if not name:
                continue
            node: Node = {
                "metadata": {"name": name, "labels": node_labels.get(name, {})},
                "spec": {"unschedulable": name in cordoned, "taints": taints.get(name, [])},
                "status": {
                    "capacity": _pods_too(capacity.get(name, [])),
                    "allocatable": _pods_too(allocatable.get(name, [])),
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True" if name in ready or not readiness_known else "False",
                        }
                    ],
                },
            }
            nodes.append(dict(node))
        return nodes

    def _pod_parts(self) -> dict[PodKey, _PodParts]:
        pods: dict[PodKey, _PodParts] = {}
        for labels, _ in self._of("kube_pod_info"):
            key = (labels.get("namespace", ""), labels.get("pod", ""))
            parts = pods.setdefault(key, _PodParts(uid=labels.get("uid", "")))
            parts.node = parts.node or labels.get("node", "")  # a lingering unscheduled series

        def each(family: str) -> Iterator[tuple[_PodParts, Labels, float]]:
            for labels, value in self._of(family):
                parts = pods.get((labels.get("namespace", ""), labels.get("pod", "")))
                if parts is not None:
                    yield parts, labels, value

        for parts, labels, _ in each("kube_pod_status_phase"):
            parts.phase = labels.get("phase", parts.phase)
        for parts, labels, _ in each("kube_pod_owner"):
            if labels.get("owner_kind") not in (None, "", "<none>"):
                parts.owners.append(
                    {
                        "kind": labels["owner_kind"],
                        "name": labels.get("owner_name", ""),
                        "controller": labels.get("owner_is_controller") == "true",
                    }
                )
        for parts, labels, _ in each("kube_pod_labels"):
            parts.labels.update(_restored(labels, self._restore))
        for parts, labels, _ in each("kube_pod_container_info"):
            parts.containers.setdefault(labels.get("container", ""), {})
        for family, kind in (
            ("kube_pod_container_resource_requests", "requests"),
            ("kube_pod_container_resource_limits", "limits"),
        ):
            for parts, labels, value in each(family):
                held = parts.containers.setdefault(labels.get("container", ""), {})
                held.setdefault(kind, {})[labels.get("resource", "")] = value
        for parts, labels, _ in each("kube_pod_init_container_info"):
            name = labels.get("container", "")
            parts.inits.setdefault(name, {})
            if labels.get("restart_policy") == "Always":
                parts.sidecars.add(name)
        for family, kind in (
            ("kube_pod_init_container_resource_requests", "requests"),
            ("kube_pod_init_container_resource_limits", "limits"),
        ):
            for parts, labels, value in each(family):
                held = parts.inits.setdefault(labels.get("container", ""), {})
                held.setdefault(kind, {})[labels.get("resource", "")] = value
        for parts, _, value in each("kube_pod_overhead_cpu_cores"):
            parts.overhead["cpu"] = value
        for parts, _, value in each("kube_pod_overhead_memory_bytes"):
            parts.overhead["memory"] = value
        for parts, labels, value in each("kube_pod_container_status_restarts_total"):
            parts.restarts[labels.get("container", "")] = int(value)
        for parts, labels, value in each("kube_pod_container_status_last_terminated_reason"):
            if value == 1:
                parts.oom.add(labels.get("container", ""))
        return pods

    def _pods(self) -> list[RawObject]:
        out: list[RawObject] = []
        claimed = rebuild_storage.pod_claims(self._of)
        for (namespace, name), parts in sorted(self._pod_parts().items()):
            containers = [_container(c, r) for c, r in sorted(parts.containers.items()) if c]
            # kube-state-metrics does not say in which order init containers run: sidecars are
            # taken as started before every regular init container (as service meshes inject
            # them), the largest effective request that order could give
            inits = []
            for c, r in sorted(
                parts.inits.items(), key=lambda item: (item[0] not in parts.sidecars, item[0])
            ):
                if c:
                    init = _container(c, r)
                    if c in parts.sidecars:
                        init["restartPolicy"] = "Always"
                    inits.append(init)
            statuses = [
                {
                    "name": c,
                    "restartCount": parts.restarts.get(c, 0),
                    **({"lastState": {"terminated": {"reason": "OOMKilled"}}} if c in parts.oom else {}),
                }
                for c in sorted({*parts.containers, *parts.sidecars})
                if c
            ]
            pod: Pod = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": parts.uid,
                    "labels": parts.labels,
                    "ownerReferences": parts.owners,
                },
                "spec": {
                    "containers": containers,
                    "initContainers": inits,
                    **({"nodeName": parts.node} if parts.node else {}),
                    **({"volumes": claimed[(namespace, name)]} if (namespace, name) in claimed else {}),
                    **({"overhead": _quantities(parts.overhead.items())} if parts.overhead else {}),
                },
                "status": {"phase": parts.phase, "containerStatuses": statuses},  # type: ignore[typeddict-item]
            }
            out.append(dict(pod))
        return out

    def _owners(self, family: str, name_label: str, kind: Kind) -> list[RawObject]:
        self._unavailable(kind, family)
        found: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
        for labels, _ in self._of(family):
            key = (labels.get("namespace", ""), labels.get(name_label, ""))
            refs = found[key]
            if labels.get("owner_kind") not in (None, "", "<none>"):
                refs.append(
                    {"kind": labels["owner_kind"], "name": labels.get("owner_name", ""), "controller": True}
                )
        return [
            {"metadata": {"namespace": ns, "name": name, "ownerReferences": refs}}
            for (ns, name), refs in sorted(found.items())
            if name
        ]

    def _replicasets(self) -> list[RawObject]:
        return self._owners("kube_replicaset_owner", "replicaset", Kind.REPLICASETS)

    def _jobs(self) -> list[RawObject]:
        return self._owners("kube_job_owner", "job_name", Kind.JOBS)

    def _quotas(self) -> list[RawObject]:
        self._unavailable(Kind.RESOURCEQUOTAS, "kube_resourcequota")
        found: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(
            lambda: {"hard": {}, "used": {}}
        )
        for labels, value in self._of("kube_resourcequota"):
            kind = labels.get("type", "")
            if kind in ("hard", "used"):
                resource = labels.get("resource", "")
                found[(labels.get("namespace", ""), labels.get("resourcequota", ""))][kind][resource] = (
                    quantity("cpu" if resource.endswith("cpu") else resource, value)
                )
        return [
            {"metadata": {"namespace": ns, "name": name}, "status": status}
            for (ns, name), status in sorted(found.items())
            if name
        ]

    def _pod_metrics(self) -> list[RawObject]:
        cpu_family, memory_family = "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"
        self._unavailable(Kind.POD_METRICS, cpu_family, memory_family)
        usage: dict[PodKey, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for family, resource in ((cpu_family, "cpu"), (memory_family, "memory")):
            for labels, value in self._of(family):
                key = (labels.get("namespace", ""), labels.get("pod", ""))
                usage[key][labels.get("container", "")][resource] = value
        return [
            {
                "metadata": {"namespace": ns, "name": pod},
                "containers": [
                    {"name": c, "usage": {r: quantity(r, v) for r, v in u.items()}}
                    for c, u in sorted(containers.items())
                    if len(u) == 2
                ],
            }
            for (ns, pod), containers in sorted(usage.items())
        ]

    def _node_metrics(self) -> list[RawObject]:
        cpu_family = 'container_cpu_usage_seconds_total{id="/"}'
        memory_family = 'container_memory_working_set_bytes{id="/"}'
        self._unavailable(Kind.NODE_METRICS, cpu_family, memory_family)
        usage: dict[str, dict[str, float]] = defaultdict(dict)
        for family, resource in ((cpu_family, "cpu"), (memory_family, "memory")):
            for labels, value in self._of(family):
                usage[labels.get("node", "")][resource] = value
        return [
            {"metadata": {"name": node}, "usage": {r: quantity(r, v) for r, v in u.items()}}
            for node, u in sorted(usage.items())
            if node and len(u) == 2
        ]


def _pods_too(entries: list[tuple[str, float]]) -> dict[str, str]:
    out = _quantities(entries)
    for resource, value in entries:
        if resource == "pods":
            out["pods"] = str(round(value))
    return out


def _container(name: str, resources: dict[str, dict[str, float]]) -> Container:
    block: dict[str, dict[str, str]] = {}
    for kind in ("requests", "limits"):
        if resources.get(kind):
            block[kind] = _quantities(resources[kind].items())
    return {"name": name, "resources": block}  # type: ignore[typeddict-item]
