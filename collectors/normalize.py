"""The pod pass: pods folded onto their nodes into typed snapshot records (workload-container sums,
allocations by price key, pod rows, the nodes' requested totals).

Nodes are read first (``collectors.node_facts``); pods are folded in page by page: nothing
keeps a raw pod past its page, only the rows the store will write (one per pod and one per
workload container).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from capacity.analysis.scheduling import repels_own_replicas, zone_skew
from capacity.histogram import bucket_of
from capacity.records import (
    FINISHED_PHASES,
    POD_OVERHEAD_CONTAINER,
    ZERO,
    ContainerSample,
    NodeRecord,
    PodRecord,
    PriceKey,
    Resources,
    WorkloadKey,
)
from collectors.assets import AssetPass, pod_claims
from collectors.node_facts import NodeFacts
from collectors.owners import OwnerIndex
from collectors.pods import ContainerState, PodSpec, container_states, pod_spec
from collectors.raw import MALFORMED, describe, labels, mapping, name_of, sequence, well_formed
from collectors.shapes import ObjectMeta, Pod

_EMPTY: dict[str, Any] = {}
_NONE: list[Any] = []
_NO_STATE = ContainerState(restarts=0, oom_killed=False)


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
    claims: tuple[str, ...]
    repels_own: bool
    zone_skew: int | None


def _gpu_scaled(request: Resources, share: float) -> Resources:
    return Resources(request.cpu, request.memory, request.gpu * share)


@dataclass
class PodPass:
    """Folds pods in page by page against the nodes and metrics already listed."""

    nodes: dict[str, NodeFacts]
    owners: OwnerIndex
    metrics: dict[tuple[str, str], dict[str, Resources]] | None  # None: usage unknown
    warn: Callable[[str], None]
    assets: AssetPass | None = None  # told which claims and load balancers each bound pod holds
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
            self.add(cast(Pod, item))
        self.listed += len(items)

    def add(self, item: Pod) -> None:
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

    def _read(self, item: Pod, meta: ObjectMeta, namespace: str, name: str, where: str) -> _Pod | None:
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
        affinities = mapping(spec.get("affinity"), f"{where} affinity", self.warn)
        affinity = mapping(affinities.get("nodeAffinity"), f"{where} nodeAffinity", self.warn)
        pod_labels = labels(meta, where, self.warn)
        spreads = sequence(
            spec.get("topologySpreadConstraints"), f"{where} topologySpreadConstraints", self.warn
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
            labels=pod_labels,
            shape=pod_spec(spec, where, self.warn),
            states=container_states(status),
            priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
            node_selector=self._canonical(
                mapping(spec.get("nodeSelector"), f"{where} nodeSelector", self.warn)
            ),
            required_affinity=self._canonical(sequence(required, f"{where} nodeSelectorTerms", self.warn)),
            tolerations=self._canonical(sequence(spec.get("tolerations"), f"{where} tolerations", self.warn)),
            claims=() if self.assets is None else pod_claims(spec, name, where, self.warn),
            repels_own=repels_own_replicas(affinities, pod_labels),
            zone_skew=zone_skew(spreads, pod_labels),
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
        effective = shape.effective
        if node_name is None:
            for c in shape.running:
                acc = self._acc(workload, c.name)
                acc.pending_replicas += 1
                acc.pending_cpu += c.request.cpu
                acc.pending_memory += c.request.memory
        else:
            if self.assets is not None:
                self.assets.add_pod(namespace, workload, pod.labels, pod.claims)
            node_key = self._key(node_name, where)
            facts = self.nodes.get(node_name)
            share = facts.gpu_share if facts is not None else 1.0  # a time-sliced GPU's replica
            effective = shape.effective if share == 1.0 else _gpu_scaled(shape.effective, share)
            running_sum = ZERO
            if pod_usage_by_container is not None:
                pod_usage = ZERO
            for c in shape.running:
                acc = self._acc(workload, c.name)
                req = c.request if share == 1.0 else _gpu_scaled(c.request, share)
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
                max(0.0, effective.cpu - running_sum.cpu),
                max(0.0, effective.memory - running_sum.memory),
                max(0.0, effective.gpu - running_sum.gpu),
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
                self.requested[node_name] = [effective.cpu, effective.memory, effective.gpu]
            else:
                total[0] += effective.cpu
                total[1] += effective.memory
                total[2] += effective.gpu
        self.pods.append(
            PodRecord(
                namespace=namespace,
                name=name,
                node=node_name,
                phase=pod.phase,
                workload=workload,
                request=effective,
                usage=pod_usage,
                priority=pod.priority,
                node_selector=pod.node_selector,
                required_affinity=pod.required_affinity,
                tolerations=pod.tolerations,
                daemonset=workload.kind == "DaemonSet",
                restarts=restarts,
                oom_kills=ooms,
                repels_own=pod.repels_own,
                zone_skew=pod.zone_skew,
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
                    taints=facts.taints,
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
