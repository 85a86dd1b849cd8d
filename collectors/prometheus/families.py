"""The series a backfill reads: kube-state-metrics v2 and cAdvisor families, and their queries.

Each family's query deduplicates (``max by`` its identity labels, ``max without`` the scrape's
own labels for the label families): several kube-state-metrics replicas or a second scrape
job expose every series twice, and summing them would double requests (OpenCost's negative
idle). cAdvisor's pod-level cgroup (``container=""``) and pause container (``container="POD"``)
are left out of container usage, and a node's usage is its root cgroup (``id="/"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collectors.prometheus.promql import Selectors, dedup, equals, not_equals

POD = ("namespace", "pod", "uid")
CONTAINER = (*POD, "container")
# What a scrape adds to a kube-state-metrics series (the target's own labels): never identity.
SCRAPE_LABELS = ("instance", "job", "endpoint", "service", "container", "pod", "namespace")


@dataclass(frozen=True, slots=True)
class Family:
    """One series family: its name, the query that reads it, and whether a snapshot needs it."""

    name: str  # the metric name (what a warning names)
    query: Callable[[Selectors, str], str]  # (selectors, rate window such as "5m") -> PromQL
    required: bool = False  # without it no snapshot can be built (the backfill stops)
    missing: str = ""  # what a snapshot loses without it (its warning)
    namespaced: bool = True  # its series carry ``namespace`` (a query too big is read by namespace)


def _by(metric: str, by: tuple[str, ...], *matchers: str) -> Callable[[Selectors, str], str]:
    return lambda s, _window: dedup(s(metric, *matchers), by=by)


def _labels(metric: str, keep: tuple[str, ...]) -> Callable[[Selectors, str], str]:
    # keep: identity labels that share a name with a scrape label (``namespace`` of a pod)
    dropped = tuple(label for label in SCRAPE_LABELS if label not in keep)
    return lambda s, _window: dedup(s(metric), without=dropped)


def _phase(s: Selectors, _window: str) -> str:
    return dedup(s("kube_pod_status_phase"), by=(*POD, "phase")) + " == 1"


def _cpu_rate(by: tuple[str, ...], *matchers: str) -> Callable[[Selectors, str], str]:
    return lambda s, window: dedup(
        f"rate({s('container_cpu_usage_seconds_total', *matchers)}[{window}])", by=by
    )


_APP = (not_equals("container", ""), not_equals("container", "POD"))
_ROOT = (equals("id", "/"),)

FAMILIES: tuple[Family, ...] = (
    Family(
        "kube_node_status_capacity",
        _by("kube_node_status_capacity", ("node", "resource", "unit")),
        required=True,
        namespaced=False,
    ),
    Family(
        "kube_node_status_allocatable",
        _by("kube_node_status_allocatable", ("node", "resource", "unit")),
        missing="allocatable taken as capacity",
        namespaced=False,
    ),
    Family(
        "kube_node_labels",
        _labels("kube_node_labels", ()),
        missing="nodes without labels: instance types, zones and pools unknown",
        namespaced=False,
    ),
    Family("kube_node_spec_unschedulable", _by("kube_node_spec_unschedulable", ("node",)), namespaced=False),
    Family(
        "kube_node_status_condition",
        _by("kube_node_status_condition", ("node",), equals("condition", "Ready"), equals("status", "true")),
        missing="node readiness unknown",
        namespaced=False,
    ),
    Family(
        "kube_node_spec_taint",
        _by("kube_node_spec_taint", ("node", "key", "value", "effect")),
        namespaced=False,
    ),
    Family("kube_pod_info", _by("kube_pod_info", (*POD, "node")), required=True),
    Family("kube_pod_status_phase", _phase, missing="pod phases unknown: every pod taken as running"),
    Family(
        "kube_pod_owner",
        _by("kube_pod_owner", (*POD, "owner_kind", "owner_name", "owner_is_controller")),
        missing="workloads unknown: every pod its own workload",
    ),
    Family(
        "kube_pod_labels",
        _labels("kube_pod_labels", ("namespace", "pod")),
        missing="no pod labels: attribution by namespace only",
    ),
    Family("kube_pod_container_info", _by("kube_pod_container_info", CONTAINER)),
    Family(
        "kube_pod_container_resource_requests",
        _by("kube_pod_container_resource_requests", (*CONTAINER, "resource", "unit")),
        required=True,
    ),
    Family(
        "kube_pod_container_resource_limits",
        _by("kube_pod_container_resource_limits", (*CONTAINER, "resource", "unit")),
        missing="no limits known",
    ),
    Family(
        "kube_pod_init_container_info", _by("kube_pod_init_container_info", (*CONTAINER, "restart_policy"))
    ),
    Family(
        "kube_pod_init_container_resource_requests",
        _by("kube_pod_init_container_resource_requests", (*CONTAINER, "resource", "unit")),
    ),
    Family(
        "kube_pod_init_container_resource_limits",
        _by("kube_pod_init_container_resource_limits", (*CONTAINER, "resource", "unit")),
    ),
    Family("kube_pod_overhead_cpu_cores", _by("kube_pod_overhead_cpu_cores", POD)),
    Family("kube_pod_overhead_memory_bytes", _by("kube_pod_overhead_memory_bytes", POD)),
    Family(
        "kube_pod_container_status_restarts_total", _by("kube_pod_container_status_restarts_total", CONTAINER)
    ),
    Family(
        "kube_pod_container_status_last_terminated_reason",
        _by("kube_pod_container_status_last_terminated_reason", CONTAINER, equals("reason", "OOMKilled")),
    ),
    Family(
        "kube_namespace_labels",
        _labels("kube_namespace_labels", ("namespace",)),
        missing="no namespace labels",
    ),
    Family(
        "kube_replicaset_owner",
        _by("kube_replicaset_owner", ("namespace", "replicaset", "owner_kind", "owner_name")),
    ),
    Family("kube_job_owner", _by("kube_job_owner", ("namespace", "job_name", "owner_kind", "owner_name"))),
    Family(
        "kube_resourcequota", _by("kube_resourcequota", ("namespace", "resourcequota", "resource", "type"))
    ),
    # volumes and load balancers (the whole bill); kube-state-metrics has no Service selectors
    Family(
        "kube_persistentvolume_capacity_bytes",
        _by("kube_persistentvolume_capacity_bytes", ("persistentvolume",)),
        missing="volumes not billed",
        namespaced=False,
    ),
    Family("kube_persistentvolume_info", _labels("kube_persistentvolume_info", ()), namespaced=False),
    Family(
        "kube_persistentvolume_status_phase",
        lambda s, _window: (
            dedup(s("kube_persistentvolume_status_phase"), by=("persistentvolume", "phase")) + " == 1"
        ),
        namespaced=False,
    ),
    Family(
        "kube_persistentvolume_claim_ref",
        _by("kube_persistentvolume_claim_ref", ("persistentvolume", "name", "claim_namespace")),
        namespaced=False,
    ),
    Family(
        "kube_persistentvolumeclaim_info",
        _by(
            "kube_persistentvolumeclaim_info",
            ("namespace", "persistentvolumeclaim", "storageclass", "volumename"),
        ),
    ),
    Family(
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        _by("kube_pod_spec_volumes_persistentvolumeclaims_info", (*POD, "volume", "persistentvolumeclaim")),
    ),
    Family(
        "kube_storageclass_info",
        _by("kube_storageclass_info", ("storageclass", "provisioner")),
        namespaced=False,
    ),
    Family(
        "kube_service_spec_type",
        _by("kube_service_spec_type", ("namespace", "service", "type"), equals("type", "LoadBalancer")),
        missing="load balancers not billed",
    ),
    Family(
        "kube_service_status_load_balancer_ingress",
        _by("kube_service_status_load_balancer_ingress", ("namespace", "service", "ip", "hostname")),
    ),
    # HorizontalPodAutoscalers: the workload each scales, bounds, replicas, metric targets
    Family(
        "kube_horizontalpodautoscaler_info",
        _by(
            "kube_horizontalpodautoscaler_info",
            ("namespace", "horizontalpodautoscaler", "scaletargetref_kind", "scaletargetref_name"),
        ),
        missing="autoscalers not recorded",
    ),
    *(
        Family(name, _by(name, ("namespace", "horizontalpodautoscaler")))
        for name in (
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "kube_horizontalpodautoscaler_status_current_replicas",
            "kube_horizontalpodautoscaler_status_desired_replicas",
        )
    ),
    Family(
        "kube_horizontalpodautoscaler_spec_target_metric",
        _by(
            "kube_horizontalpodautoscaler_spec_target_metric",
            ("namespace", "horizontalpodautoscaler", "metric_name", "metric_target_type"),
        ),
    ),
    Family(
        "container_cpu_usage_seconds_total",
        _cpu_rate(("namespace", "pod", "container"), *_APP),
        missing="container usage unknown",
    ),
    Family(
        "container_memory_working_set_bytes",
        _by("container_memory_working_set_bytes", ("namespace", "pod", "container"), *_APP),
        missing="container usage unknown",
    ),
    Family(
        'container_cpu_usage_seconds_total{id="/"}',
        _cpu_rate(("node",), *_ROOT),
        missing="node usage unknown",
        namespaced=False,
    ),
    Family(
        'container_memory_working_set_bytes{id="/"}',
        _by("container_memory_working_set_bytes", ("node",), *_ROOT),
        missing="node usage unknown",
        namespaced=False,
    ),
)
BY_NAME = {family.name: family for family in FAMILIES}
