"""Raw API objects → typed snapshot records: nodes with prices, workload-container sums, pods.

Pods are folded in page by page: nothing keeps a raw pod past its page, only the rows the
store will write (one per pod and one per workload container).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from capacity.config import Pricing
from capacity.histogram import bucket_of
from capacity.pricing import price_key
from capacity.records import (
    FINISHED_PHASES,
    POD_OVERHEAD_CONTAINER,
    ZERO,
    ContainerSample,
    NamespaceRecord,
    NodeRecord,
    PodRecord,
    PriceKey,
    QuotaRecord,
    Resources,
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
from collectors.pods import ContainerState, PodSpec, container_states, pod_spec, resources_of
from collectors.quantity import beyond_any_node, parse, parse_usage
from collectors.raw import MALFORMED, describe, labels, mapping, name_of, sequence, well_formed

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


def namespace_record(item: Mapping[str, Any], warn: Callable[[str], None]) -> NamespaceRecord:
    """Return a namespace's name and labels (``item`` has passed ``raw.well_formed``)."""
    meta = item["metadata"]
    name = str(meta["name"])
    return NamespaceRecord(name=name, labels=labels(meta, f"namespace {name}", warn))


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
    price_key: PriceKey
    usage: Resources | None = None
    requested: Resources = ZERO


def node_facts(item: Mapping[str, Any], pricing: Pricing, warn: Callable[[str], None]) -> NodeFacts | None:
    """Return a node's facts and prices; None (with a warning) when it cannot be read at all."""
    meta = item.get("metadata") or {}
    name = name_of(meta.get("name") if isinstance(meta, dict) else None)
    if not name:
        warn("node without a valid name ignored")
        return None
    where = f"node {name}"
    try:
        return _node_facts(item, name, pricing, warn)
    except MALFORMED as exc:
        warn(f"{where}: malformed object ignored ({describe(exc)})")
        return None


def _node_facts(
    item: Mapping[str, Any], name: str, pricing: Pricing, warn: Callable[[str], None]
) -> NodeFacts:
    where = f"node {name}"
    meta = item["metadata"]
    node_labels = labels(meta, where, warn)
    status = mapping(item.get("status"), f"{where} status", warn)
    capacity_block = mapping(status.get("capacity"), f"{where} capacity", warn)
    allocatable_block = mapping(status.get("allocatable"), f"{where} allocatable", warn)
    capacity = resources_of(capacity_block, f"{where} capacity", warn)
    allocatable = (
        resources_of(allocatable_block, f"{where} allocatable", warn) if allocatable_block else capacity
    )
    if capacity == ZERO:
        # Capacity is what is priced: without it the node would cost nothing and every pod on
        # it would be free.
        if allocatable != ZERO:
            warn(f"{where}: no capacity reported; its allocatable is priced instead")
            capacity = allocatable
        else:
            warn(f"{where}: reports neither capacity nor allocatable; priced by its instance type alone")
    pods_raw = (allocatable_block or capacity_block).get("pods")
    try:
        pods_allocatable = int(parse(pods_raw)) if pods_raw is not None else 0
    except ValueError:
        warn(f"{where}: malformed pods allocatable {pods_raw!r} ignored")
        pods_allocatable = 0
    zone = first_label(node_labels, ZONE_LABELS)
    instance_type = first_label(node_labels, INSTANCE_TYPE_LABELS)
    ctype = capacity_type(node_labels)
    region = region_of(node_labels, zone)
    annotations = labels(meta, where, warn, key="annotations")

    def key(with_pricing: Pricing) -> PriceKey:
        return price_key(
            with_pricing,
            capacity=capacity,
            instance_type=instance_type,
            capacity_type=ctype,
            region=region,
            labels=node_labels,
            annotations=annotations,
        )

    try:
        node_key = key(pricing)
    except ValueError as exc:
        warn(f"{where}: price override {exc}; priced by configuration instead")
        node_key = key(pricing.model_copy(update={"node_price_label": None}))
    conditions = sequence(status.get("conditions"), f"{where} conditions", warn)
    ready = any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )
    return NodeFacts(
        name=name,
        instance_type=instance_type,
        capacity_type=ctype,
        zone=zone,
        region=region,
        node_pool=first_label(node_labels, NODE_POOL_LABELS),
        labels=node_labels,
        capacity=capacity,
        allocatable=allocatable,
        pods_allocatable=pods_allocatable,
        ready=ready,
        unschedulable=bool(mapping(item.get("spec"), f"{where} spec", warn).get("unschedulable")),
        price_key=node_key,
    )


def usage_of(item: Mapping[str, Any], where: str, warn: Callable[[str], None]) -> Resources | None:
    """Return the usage block of a NodeMetrics or container metrics entry, or None if malformed."""
    usage = item.get("usage")
    try:
        assert isinstance(usage, dict)
        cpu, memory = parse_usage(usage["cpu"]), parse_usage(usage["memory"])
    except (AssertionError, KeyError, ValueError):
        warn(f"{where}: malformed or missing usage {usage!r} ignored")
        return None
    for value, resource in ((cpu, "cpu"), (memory, "memory")):
        bound = beyond_any_node(value, resource)
        if bound is not None:
            warn(f"{where}: {resource} usage {usage[resource]!r} is beyond any node (over {bound}): ignored")
            return None
    return Resources(cpu, memory, 0.0)


def pod_metrics_map(
    pages: Iterable[list[Any]], warn: Callable[[str], None]
) -> dict[tuple[str, str], dict[str, Resources]]:
    """Return per pod (namespace, name) the usage of each container; a pod listed twice keeps the first."""
    result: dict[tuple[str, str], dict[str, Resources]] = {}
    listed = 0
    for page in pages:
        items, listed = well_formed(page, "pod metrics", warn, start=listed), listed + len(page)
        for item in items:
            meta = item["metadata"]
            ns, name = name_of(meta.get("namespace")) or "", str(meta["name"])
            if (ns, name) in result:
                warn(f"metrics of pod {ns}/{name} listed twice: the first kept")
                continue
            containers: dict[str, Resources] = {}
            for c in sequence(item.get("containers"), f"metrics of pod {ns}/{name} containers", warn):
                cname = name_of(c.get("name")) if isinstance(c, dict) else None
                if cname is None:
                    warn(f"metrics of pod {ns}/{name}: a container entry without a name ignored")
                    continue
                usage = usage_of(c, f"metrics of pod {ns}/{name} container {cname}", warn)
                if usage is not None:
                    containers[cname] = usage
            result[(ns, name)] = containers
    return result


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
    restarts: int = 0
    oom_kills: int = 0
    pending_replicas: int = 0
    pending_cpu: float = 0.0
    pending_memory: float = 0.0
    # usage above requests, per node, settled once node totals are known (see PodPass.settle)
    excess: dict[str, list[float]] | None = None
    cpu_hist: dict[int, float] = field(default_factory=dict)
    # allocated (cpu, memory, gpu) by the price key of the node it ran on
    allocations: dict[PriceKey, list[float]] = field(default_factory=dict)

    def allocate(self, key: PriceKey | None, cpu: float, memory: float, gpu: float) -> None:
        if key is None:  # a node missing from the node list: not costed
            return
        held = self.allocations.get(key)
        if held is None:
            self.allocations[key] = [cpu, memory, gpu]
        else:
            held[0] += cpu
            held[1] += memory
            held[2] += gpu

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
            restarts=self.restarts,
            oom_kills=self.oom_kills,
            pending_replicas=self.pending_replicas,
            pending_cpu_request=self.pending_cpu,
            pending_memory_request=self.pending_memory,
            cpu_usage_hist=self.cpu_hist if has_usage else {},
            allocations={k: (v[0], v[1], v[2]) for k, v in self.allocations.items()},
        )


@dataclass(frozen=True, slots=True)
class _Pod:
    """One pod as read from its raw object, before it is added up."""

    namespace: str
    name: str
    phase: str
    node: str | None
    workload: WorkloadKey
    labels: dict[str, str]
    shape: PodSpec
    states: dict[str, ContainerState]
    priority: int
    node_selector: Any
    required_affinity: Any
    tolerations: Any


@dataclass
class PodPass:
    """Folds pods in page by page against the nodes and metrics already listed."""

    nodes: dict[str, NodeFacts]
    owners: OwnerIndex
    metrics: dict[tuple[str, str], dict[str, Resources]] | None  # None: usage unknown
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
    seen: set[tuple[str, str]] = field(default_factory=set)
    listed: int = 0  # items of the list so far, well-formed or not

    def add_page(self, items: Sequence[Any]) -> None:
        for item in well_formed(items, "pods", self.warn, start=self.listed):
            self.add(item)
        self.listed += len(items)

    def add(self, item: Mapping[str, Any]) -> None:
        """Fold one pod in (``item`` has passed ``raw.well_formed``); a malformed pod warns and is skipped."""
        meta = item["metadata"]
        namespace = self._shared(name_of(meta.get("namespace")) or "")
        name = str(meta["name"])
        where = f"pod {namespace}/{name}"
        if (namespace, name) in self.seen:
            self.warn(f"{where} listed twice: the first kept")
            return
        try:
            pod = self._read(item, meta, namespace, name, where)
        except MALFORMED as exc:
            # Read in full before anything is added up: a pod is counted whole or not at all.
            self.warn(f"{where}: malformed object ignored ({describe(exc)})")
            return
        self.seen.add((namespace, name))
        if pod is not None:
            self._fold(pod)

    def _read(
        self, item: Mapping[str, Any], meta: Mapping[str, Any], namespace: str, name: str, where: str
    ) -> _Pod | None:
        """Return what the pass needs of one pod, or None when it holds nothing."""
        status = mapping(item.get("status"), f"{where} status", self.warn)
        phase = self._shared(str(status.get("phase") or "Unknown"))
        if phase in FINISHED_PHASES:
            return None  # Succeeded/Failed pods hold nothing, even if they still carry requests.
        spec = mapping(item.get("spec"), f"{where} spec", self.warn)
        node_name = name_of(spec.get("nodeName"))
        if node_name is not None:
            node_name = self._shared(node_name)
        if node_name is None and phase != "Pending":
            return None  # an unbound pod that is not pending (Unknown without a node): nothing to count
        workload = self.owners.workload(namespace, name, meta)
        affinity = mapping(
            mapping(spec.get("affinity"), f"{where} affinity", self.warn).get("nodeAffinity"),
            f"{where} nodeAffinity",
            self.warn,
        )
        required = mapping(
            affinity.get("requiredDuringSchedulingIgnoredDuringExecution"),
            f"{where} required affinity",
            self.warn,
        ).get("nodeSelectorTerms")
        priority = spec.get("priority")
        return _Pod(
            namespace=namespace,
            name=name,
            phase=phase,
            node=node_name,
            workload=self.keys.setdefault(workload, workload),  # one key object per workload
            labels=labels(meta, where, self.warn),
            shape=pod_spec(spec, where, self.warn),
            states=container_states(status),
            priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
            node_selector=self._canonical(
                mapping(spec.get("nodeSelector"), f"{where} nodeSelector", self.warn)
            ),
            required_affinity=self._canonical(sequence(required, f"{where} nodeSelectorTerms", self.warn)),
            tolerations=self._canonical(sequence(spec.get("tolerations"), f"{where} tolerations", self.warn)),
        )

    def _fold(self, pod: _Pod) -> None:
        namespace, name, node_name, workload, shape, states = (
            pod.namespace, pod.name, pod.node, pod.workload, pod.shape, pod.states
        )  # fmt: skip
        where = f"pod {namespace}/{name}"
        self.workload_labels[workload] = pod.labels
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
            node_key = self._key(node_name, where)
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
                acc.allocate(node_key, req.cpu, req.memory, req.gpu)
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
                acc.allocate(node_key, extra.cpu, extra.memory, extra.gpu)
            total = self.requested.get(node_name)
            if total is None:
                self.requested[node_name] = [shape.effective.cpu, shape.effective.memory, shape.effective.gpu]
            else:
                total[0] += shape.effective.cpu
                total[1] += shape.effective.memory
                total[2] += shape.effective.gpu
        self.pods.append(
            PodRecord(
                namespace=namespace,
                name=name,
                node=node_name,
                phase=pod.phase,
                workload=workload,
                request=shape.effective,
                usage=pod_usage,
                priority=pod.priority,
                node_selector=pod.node_selector,
                required_affinity=pod.required_affinity,
                tolerations=pod.tolerations,
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
                acc.cpu_allocated += cpu_excess * cpu_scale
                acc.memory_allocated += mem_excess * mem_scale
                acc.allocate(
                    None if node is None else node.price_key,
                    cpu_excess * cpu_scale,
                    mem_excess * mem_scale,
                    0.0,
                )
            acc.excess = None
        self.scales = scale

    def _acc(self, workload: WorkloadKey, container: str) -> _Acc:
        key = (workload, container)
        acc = self.accs.get(key)
        if acc is None:
            acc = self.accs[key] = _Acc()
        return acc

    def _key(self, node_name: str, where: str) -> PriceKey | None:
        """Return the price key of the pod's node; None (warned once) for a node not listed."""
        node = self.nodes.get(node_name)
        if node is not None:
            return node.price_key
        if node_name not in self.missing_nodes:
            self.missing_nodes.add(node_name)
            self.warn(
                f"{where} is bound to node {node_name}, which was not in the node list "
                "(node gone mid-collection?); its pods are recorded but not costed"
            )
        return None

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
                    price_key=facts.price_key,
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
