"""Raw API objects → typed snapshot records: nodes with prices, workload-container sums, pods.

Pods are folded in page by page: nothing keeps a raw pod past its page, only the rows the
store will write (one per pod and one per workload container).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from capacity.config import Pricing
from capacity.histogram import bucket_of
from capacity.pricing import node_prices
from capacity.records import (
    POD_OVERHEAD_CONTAINER,
    ZERO,
    ContainerSample,
    NamespaceRecord,
    NodeRecord,
    PodRecord,
    QuotaRecord,
    Resources,
    UnitPrices,
    WorkloadKey,
)
from collectors.nodes import (
    INSTANCE_TYPE_LABELS,
    NODE_POOL_LABELS,
    ZONE_LABELS,
    capacity_type,
    first_label,
    region_of,
)
from collectors.owners import OwnerIndex
from collectors.pods import ContainerState, container_states, pod_spec, resources_of
from collectors.quantity import parse, parse_usage

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
_EMPTY: dict[str, Any] = {}
_NONE: list[Any] = []
_NO_STATE = ContainerState(restarts=0, oom_killed=False)


class Warnings:
    """Collects warnings for a snapshot; keeps the first ``limit`` and counts the rest."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.dropped = 0

    def __call__(self, message: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(message)
        else:
            self.dropped += 1

    def as_list(self) -> list[str]:
        if self.dropped:
            return [*self.items, f"... and {self.dropped} more warnings"]
        return list(self.items)


def _labels(meta: Mapping[str, Any]) -> dict[str, str]:
    labels = meta.get("labels")
    if not labels:
        return _EMPTY
    return {str(k): str(v) for k, v in labels.items()}


def namespace_record(item: Mapping[str, Any]) -> NamespaceRecord:
    meta = item.get("metadata") or {}
    return NamespaceRecord(name=str(meta.get("name", "")), labels=_labels(meta))


@dataclass(slots=True)
class NodeFacts:
    """A node before the pods are folded in: everything but what is requested on it."""

    name: str
    instance_type: str | None
    capacity_type: str
    zone: str | None
    region: str | None
    node_pool: str | None
    labels: dict[str, str]
    capacity: Resources
    allocatable: Resources
    pods_allocatable: int
    ready: bool
    unschedulable: bool
    prices: UnitPrices
    usage: Resources | None = None
    requested: Resources = ZERO


def node_facts(item: Mapping[str, Any], pricing: Pricing, warn: Callable[[str], None]) -> NodeFacts | None:
    """Return a node's facts and prices; None (with a warning) when it has no name."""
    meta = item.get("metadata") or {}
    name = meta.get("name")
    if not name:
        warn("node without a name ignored")
        return None
    where = f"node {name}"
    labels = _labels(meta)
    status = item.get("status") or {}
    capacity = resources_of(status.get("capacity"), f"{where} capacity", warn)
    allocatable_block = status.get("allocatable")
    allocatable = (
        resources_of(allocatable_block, f"{where} allocatable", warn) if allocatable_block else capacity
    )
    pods_raw = (allocatable_block or status.get("capacity") or {}).get("pods")
    try:
        pods_allocatable = int(parse(pods_raw)) if pods_raw is not None else 0
    except ValueError:
        warn(f"{where}: malformed pods allocatable {pods_raw!r} ignored")
        pods_allocatable = 0
    zone = first_label(labels, ZONE_LABELS)
    instance_type = first_label(labels, INSTANCE_TYPE_LABELS)
    ctype = capacity_type(labels)
    region = region_of(labels, zone)
    annotations = meta.get("annotations") or {}

    def price(with_pricing: Pricing) -> UnitPrices:
        return node_prices(
            with_pricing,
            capacity=capacity,
            instance_type=instance_type,
            capacity_type=ctype,
            region=region,
            labels=labels,
            annotations=annotations,
        )

    try:
        prices = price(pricing)
    except ValueError as exc:
        warn(f"{where}: price override {exc}; priced by configuration instead")
        prices = price(pricing.model_copy(update={"node_price_label": None}))
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()
    )
    return NodeFacts(
        name=str(name),
        instance_type=instance_type,
        capacity_type=ctype,
        zone=zone,
        region=region,
        node_pool=first_label(labels, NODE_POOL_LABELS),
        labels=labels,
        capacity=capacity,
        allocatable=allocatable,
        pods_allocatable=pods_allocatable,
        ready=ready,
        unschedulable=bool((item.get("spec") or {}).get("unschedulable")),
        prices=prices,
    )


def usage_of(item: Mapping[str, Any], where: str, warn: Callable[[str], None]) -> Resources | None:
    """Return the usage block of a NodeMetrics or container metrics entry, or None if malformed."""
    usage = item.get("usage") or {}
    try:
        return Resources(parse_usage(usage["cpu"]), parse_usage(usage["memory"]), 0.0)
    except (KeyError, ValueError):
        warn(f"{where}: malformed or missing usage {usage!r} ignored")
        return None


def pod_metrics_map(
    pages: Iterable[list[dict[str, Any]]], warn: Callable[[str], None]
) -> dict[tuple[str, str], dict[str, Resources]]:
    """Return per pod (namespace, name) the usage of each container."""
    result: dict[tuple[str, str], dict[str, Resources]] = {}
    for page in pages:
        for item in page:
            meta = item.get("metadata") or {}
            ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
            containers: dict[str, Resources] = {}
            for c in item.get("containers") or ():
                usage = usage_of(c, f"metrics of pod {ns}/{name} container {c.get('name')}", warn)
                if usage is not None:
                    containers[str(c.get("name"))] = usage
            result[(ns, name)] = containers
    return result


def quota_records(item: Mapping[str, Any], warn: Callable[[str], None]) -> list[QuotaRecord]:
    meta = item.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    status = item.get("status") or {}
    hard = status.get("hard") or (item.get("spec") or {}).get("hard") or {}
    used = status.get("used") or {}
    records = []
    for resource, raw in sorted(hard.items()):
        try:
            hard_value = parse(raw)
        except ValueError:
            warn(f"resourcequota {ns}/{name}: malformed {resource} {raw!r} ignored")
            continue
        used_value: float | None
        try:
            used_value = parse(used[resource]) if resource in used else None
        except ValueError:
            warn(f"resourcequota {ns}/{name}: malformed used {resource} {used[resource]!r} ignored")
            used_value = None
        records.append(QuotaRecord(ns, name, str(resource), hard_value, used_value))
    return records


@dataclass(slots=True)
class _Acc:
    """Running sums for one (workload, container)."""

    replicas: int = 0
    cpu_request: float = 0.0
    memory_request: float = 0.0
    gpu_request: float = 0.0
    cpu_limit: float | None = None
    memory_limit: float | None = None
    usage_replicas: int = 0
    cpu_usage_sum: float = 0.0
    memory_usage_sum: float = 0.0
    cpu_usage_max: float = 0.0
    memory_usage_max: float = 0.0
    cpu_allocated: float = 0.0
    memory_allocated: float = 0.0
    cpu_cost: float = 0.0
    memory_cost: float = 0.0
    gpu_cost: float = 0.0
    restarts: int = 0
    oom_kills: int = 0
    pending_replicas: int = 0
    pending_cpu: float = 0.0
    pending_memory: float = 0.0
    # usage above requests, per node, settled once node totals are known (see PodPass.settle)
    excess: dict[str, list[float]] | None = None
    cpu_hist: dict[int, float] = field(default_factory=dict)

    def sample(self, workload: WorkloadKey, container: str, usage_known: bool) -> ContainerSample:
        has_usage = usage_known and self.usage_replicas > 0
        return ContainerSample(
            workload=workload,
            container=container,
            replicas=self.replicas,
            cpu_request=self.cpu_request,
            memory_request=self.memory_request,
            gpu_request=self.gpu_request,
            cpu_limit=self.cpu_limit,
            memory_limit=self.memory_limit,
            usage_replicas=self.usage_replicas if usage_known else 0,
            cpu_usage_sum=self.cpu_usage_sum if has_usage else None,
            memory_usage_sum=self.memory_usage_sum if has_usage else None,
            cpu_usage_max=self.cpu_usage_max if has_usage else None,
            memory_usage_max=self.memory_usage_max if has_usage else None,
            cpu_allocated=self.cpu_allocated,
            memory_allocated=self.memory_allocated,
            cpu_cost_hourly=self.cpu_cost,
            memory_cost_hourly=self.memory_cost,
            gpu_cost_hourly=self.gpu_cost,
            restarts=self.restarts,
            oom_kills=self.oom_kills,
            pending_replicas=self.pending_replicas,
            pending_cpu_request=self.pending_cpu,
            pending_memory_request=self.pending_memory,
            cpu_usage_hist=self.cpu_hist if has_usage else {},
        )


@dataclass
class PodPass:
    """Folds pods in page by page against the nodes and metrics already listed."""

    nodes: dict[str, NodeFacts]
    owners: OwnerIndex
    metrics: dict[tuple[str, str], dict[str, Resources]] | None  # None: usage unknown
    fallback_prices: UnitPrices
    warn: Callable[[str], None]
    pods: list[PodRecord] = field(default_factory=list)
    workload_labels: dict[WorkloadKey, dict[str, str]] = field(default_factory=dict)
    accs: dict[tuple[WorkloadKey, str], _Acc] = field(default_factory=dict)
    requested: dict[str, list[float]] = field(default_factory=dict)
    missing_nodes: set[str] = field(default_factory=set)
    strings: dict[str, str] = field(default_factory=dict)
    keys: dict[WorkloadKey, WorkloadKey] = field(default_factory=dict)
    excess_totals: dict[str, list[float]] = field(default_factory=dict)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    _settled: bool = False
    shapes: dict[bytes, Any] = field(default_factory=dict)

    def add_page(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            self.add(item)

    def add(self, item: Mapping[str, Any]) -> None:
        meta = item.get("metadata") or _EMPTY
        status = item.get("status") or _EMPTY
        phase = self._shared(str(status.get("phase") or "Unknown"))
        if phase in FINISHED_PHASES:
            return  # Succeeded/Failed pods hold nothing, even if they still carry requests.
        spec = item.get("spec") or _EMPTY
        namespace = self._shared(str(meta.get("namespace", "")))
        name = str(meta.get("name", ""))
        where = f"pod {namespace}/{name}"
        node_name = spec.get("nodeName") or None
        if node_name is not None:
            node_name = self._shared(str(node_name))
        if node_name is None and phase != "Pending":
            return  # an unbound pod that is not pending (Unknown without a node): nothing to count
        workload = self.owners.workload(namespace, name, meta)
        workload = self.keys.setdefault(workload, workload)  # one key object per workload
        labels = _labels(meta)
        self.workload_labels[workload] = labels
        shape = pod_spec(spec, where, self.warn)
        states = container_states(status)
        pod_usage_by_container = None
        if self.metrics is not None and node_name is not None:
            # Popped: each pod's metrics are needed once, and the map shrinks as pods come in.
            pod_usage_by_container = self.metrics.pop((namespace, name), None)
        pod_usage: Resources | None = None
        restarts = 0
        ooms = 0
        if node_name is None:
            for c in shape.running:
                acc = self._acc(workload, c.name)
                acc.pending_replicas += 1
                acc.pending_cpu += c.request.cpu
                acc.pending_memory += c.request.memory
        else:
            prices = self._prices(node_name, where)
            running_sum = ZERO
            if pod_usage_by_container is not None:
                pod_usage = ZERO
            for c in shape.running:
                acc = self._acc(workload, c.name)
                req = c.request
                running_sum = running_sum + req
                acc.replicas += 1
                acc.cpu_request += req.cpu
                acc.memory_request += req.memory
                acc.gpu_request += req.gpu
                if c.cpu_limit is not None:
                    acc.cpu_limit = (acc.cpu_limit or 0.0) + c.cpu_limit
                if c.memory_limit is not None:
                    acc.memory_limit = (acc.memory_limit or 0.0) + c.memory_limit
                usage = None if pod_usage_by_container is None else pod_usage_by_container.get(c.name)
                if usage is not None:
                    acc.usage_replicas += 1
                    acc.cpu_usage_sum += usage.cpu
                    acc.memory_usage_sum += usage.memory
                    acc.cpu_usage_max = max(acc.cpu_usage_max, usage.cpu)
                    acc.memory_usage_max = max(acc.memory_usage_max, usage.memory)
                    bucket = bucket_of(usage.cpu)
                    acc.cpu_hist[bucket] = acc.cpu_hist.get(bucket, 0.0) + 1.0
                    cpu_excess = usage.cpu - req.cpu
                    mem_excess = usage.memory - req.memory
                    if cpu_excess > 0 or mem_excess > 0:
                        self._excess(acc, node_name, max(0.0, cpu_excess), max(0.0, mem_excess))
                    if pod_usage is not None:
                        pod_usage = pod_usage + usage
                # allocated = max(request, usage) = request + the excess settled later
                acc.cpu_allocated += req.cpu
                acc.memory_allocated += req.memory
                acc.cpu_cost += req.cpu * prices.cpu_core_hourly
                acc.memory_cost += req.memory * prices.memory_byte_hourly
                acc.gpu_cost += req.gpu * prices.gpu_hourly
                state = states.get(c.name, _NO_STATE)
                acc.restarts += state.restarts
                restarts += state.restarts
                if state.oom_killed:
                    acc.oom_kills += 1
                    ooms += 1
            extra = Resources(
                max(0.0, shape.effective.cpu - running_sum.cpu),
                max(0.0, shape.effective.memory - running_sum.memory),
                max(0.0, shape.effective.gpu - running_sum.gpu),
            )
            if extra != ZERO:
                # Init-container peaks, pod overhead and pod-level requests beyond the
                # containers: reserved and paid for, so charged to the workload.
                acc = self._acc(workload, POD_OVERHEAD_CONTAINER)
                acc.replicas += 1
                acc.cpu_request += extra.cpu
                acc.memory_request += extra.memory
                acc.gpu_request += extra.gpu
                acc.cpu_allocated += extra.cpu
                acc.memory_allocated += extra.memory
                acc.cpu_cost += extra.cpu * prices.cpu_core_hourly
                acc.memory_cost += extra.memory * prices.memory_byte_hourly
                acc.gpu_cost += extra.gpu * prices.gpu_hourly
            total = self.requested.get(node_name)
            if total is None:
                self.requested[node_name] = [shape.effective.cpu, shape.effective.memory, shape.effective.gpu]
            else:
                total[0] += shape.effective.cpu
                total[1] += shape.effective.memory
                total[2] += shape.effective.gpu
        affinity = (spec.get("affinity") or _EMPTY).get("nodeAffinity") or _EMPTY
        required = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or _EMPTY).get(
            "nodeSelectorTerms"
        ) or []
        priority = spec.get("priority")
        self.pods.append(
            PodRecord(
                namespace=namespace,
                name=name,
                node=node_name,
                phase=phase,
                workload=workload,
                request=shape.effective,
                usage=pod_usage,
                priority=priority if isinstance(priority, int) else 0,
                node_selector=self._canonical(spec.get("nodeSelector") or _EMPTY),
                required_affinity=self._canonical(required),
                tolerations=self._canonical(spec.get("tolerations") or _NONE),
                daemonset=workload.kind == "DaemonSet",
                restarts=restarts,
                oom_kills=ooms,
            )
        )

    def _shared(self, text: str) -> str:
        """Return one string object per distinct value (namespaces, nodes, phases)."""
        return self.strings.setdefault(text, text)

    def _canonical(self, value: Any) -> Any:
        """Return one shared object per distinct JSON value.

        Thousands of pods carry the same tolerations, node selectors and affinities; kept
        as decoded per pod they were most of the collector's memory at 150,000 pods.
        """
        if not value:
            return value
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return self.shapes.setdefault(key, value)

    def _excess(self, acc: _Acc, node: str, cpu: float, memory: float) -> None:
        if acc.excess is None:
            acc.excess = {}
        mine = acc.excess.get(node)
        if mine is None:
            acc.excess[node] = [cpu, memory]
        else:
            mine[0] += cpu
            mine[1] += memory
        total = self.excess_totals.get(node)
        if total is None:
            self.excess_totals[node] = [cpu, memory]
        else:
            total[0] += cpu
            total[1] += memory

    def settle(self) -> None:
        """Add usage beyond requests to allocations, scaled so no node is allocated past capacity.

        Requests fit a node (the scheduler sees to it); usage above requests may not, when
        bursting pods share a node with idle ones. Each node's excess is scaled down to the
        room its requests leave, so the node's allocated cost never exceeds its cost and
        idle is never negative; what was cut is reported as the node's overcommit.
        """
        if self._settled:
            return
        self._settled = True
        scale: dict[str, tuple[float, float]] = {}
        for name, (cpu_excess, mem_excess) in self.excess_totals.items():
            node = self.nodes.get(name)
            if node is None:
                scale[name] = (1.0, 1.0)
                continue
            req = self.requested.get(name, [0.0, 0.0, 0.0])
            cpu_room = max(0.0, node.capacity.cpu - req[0])
            mem_room = max(0.0, node.capacity.memory - req[1])
            scale[name] = (
                1.0 if cpu_excess <= cpu_room else cpu_room / cpu_excess,
                1.0 if mem_excess <= mem_room else mem_room / mem_excess,
            )
        for acc in self.accs.values():
            if not acc.excess:
                continue
            for name, (cpu_excess, mem_excess) in acc.excess.items():
                cpu_scale, mem_scale = scale[name]
                node = self.nodes.get(name)
                prices = node.prices if node is not None else self.fallback_prices
                acc.cpu_allocated += cpu_excess * cpu_scale
                acc.memory_allocated += mem_excess * mem_scale
                acc.cpu_cost += cpu_excess * cpu_scale * prices.cpu_core_hourly
                acc.memory_cost += mem_excess * mem_scale * prices.memory_byte_hourly
            acc.excess = None
        self.scales = scale

    def _acc(self, workload: WorkloadKey, container: str) -> _Acc:
        key = (workload, container)
        acc = self.accs.get(key)
        if acc is None:
            acc = self.accs[key] = _Acc()
        return acc

    def _prices(self, node_name: str, where: str) -> UnitPrices:
        node = self.nodes.get(node_name)
        if node is not None:
            return node.prices
        if node_name not in self.missing_nodes:
            self.missing_nodes.add(node_name)
            self.warn(
                f"{where} is bound to node {node_name}, which was not in the node list "
                "(node gone mid-collection?); its pods are recorded but not costed"
            )
        return self.fallback_prices

    def containers(self) -> list[ContainerSample]:
        self.settle()
        usage_known = self.metrics is not None
        return [acc.sample(w, c, usage_known) for (w, c), acc in self.accs.items()]

    def finish_nodes(self) -> list[NodeRecord]:
        self.settle()
        records = []
        for facts in self.nodes.values():
            req = self.requested.get(facts.name)
            excess = self.excess_totals.get(facts.name, [0.0, 0.0])
            cpu_scale, mem_scale = self.scales.get(facts.name, (1.0, 1.0))
            req_cpu = 0.0 if req is None else req[0]
            req_mem = 0.0 if req is None else req[1]
            records.append(
                NodeRecord(
                    name=facts.name,
                    instance_type=facts.instance_type,
                    capacity_type=facts.capacity_type,
                    zone=facts.zone,
                    region=facts.region,
                    node_pool=facts.node_pool,
                    labels=facts.labels,
                    capacity=facts.capacity,
                    allocatable=facts.allocatable,
                    pods_allocatable=facts.pods_allocatable,
                    ready=facts.ready,
                    unschedulable=facts.unschedulable,
                    requested=ZERO if req is None else Resources(req[0], req[1], req[2]),
                    usage=facts.usage,
                    prices=facts.prices,
                    allocated=Resources(
                        req_cpu + excess[0] * cpu_scale, req_mem + excess[1] * mem_scale, 0.0
                    ),
                    overcommit=Resources(
                        excess[0] * (1 - cpu_scale) + max(0.0, req_cpu - facts.capacity.cpu),
                        excess[1] * (1 - mem_scale) + max(0.0, req_mem - facts.capacity.memory),
                        0.0,
                    ),
                )
            )
        return records


def fallback_prices(pricing: Pricing) -> UnitPrices:
    """Return zero unit prices, for pods on nodes missing from the node list.

    Their node's cost is not in the snapshot either; charging them would break the rule that
    team costs plus idle add up to exactly the node costs.
    """
    del pricing
    return UnitPrices(
        node_hourly=0.0, cpu_core_hourly=0.0, memory_byte_hourly=0.0, gpu_hourly=0.0, source="none"
    )
