"""Typed records of one normalized snapshot: what the collectors hand to the store.

Units everywhere: CPU in cores, memory in bytes, GPUs in devices, timestamps timezone-aware
UTC. No money: a node carries its price key, a container what it was allocated by price key,
and reports price them (``capacity.costing``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Resources:
    """CPU cores, memory bytes and GPU devices."""

    cpu: float = 0.0
    memory: float = 0.0
    gpu: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def max(self, other: Resources) -> Resources:
        """Return the per-resource maximum of two resource vectors."""
        return Resources(max(self.cpu, other.cpu), max(self.memory, other.memory), max(self.gpu, other.gpu))


ZERO = Resources()

# Pod phases that hold no resources: their requests are not reserved any more.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

# The container name under which a pod's reservation beyond its containers is stored:
# init-container peaks, pod overhead and pod-level requests above the containers' sum.
POD_OVERHEAD_CONTAINER = "<pod-overhead>"


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """Hourly prices: per core, per byte of memory, per GPU device; plus the node total."""

    node_hourly: float
    cpu_core_hourly: float
    memory_byte_hourly: float
    gpu_hourly: float
    source: str  # override | config | catalog | default


@dataclass(frozen=True, slots=True)
class PriceKey:
    """Everything a node's price depends on (``capacity.pricing.key_prices``), and nothing else.

    Stored with every node sample and with what containers were allocated on such nodes, so
    that a report prices history with the prices of its own configuration, not of the day it
    was collected. ``override_hourly`` is the node's price label or annotation, when it had one.
    """

    instance_type: str | None
    capacity_type: str
    region: str | None
    override_hourly: float | None
    cpu: float  # capacity: what is priced
    memory: float
    gpu: float

    @property
    def digest(self) -> str:
        """A canonical text of the key: equal keys, equal digests (the store's unique column)."""
        fields = (self.instance_type, self.capacity_type, self.region, self.override_hourly, self.cpu,
                  self.memory, self.gpu)  # fmt: skip
        return "|".join("" if f is None else repr(f) if isinstance(f, float) else str(f) for f in fields)

    @property
    def capacity(self) -> Resources:
        return Resources(self.cpu, self.memory, self.gpu)


VOLUME = "volume"
LOAD_BALANCER = "load_balancer"
# The workload kinds that hold what no pod does: a claim no pod mounts (its namespace's), a
# LoadBalancer Service that selects no pod (its namespace's), a volume with no claim (nobody's:
# the cluster's ``__unmounted__`` row).
CLAIM_HOLDER = "PersistentVolumeClaim"
SERVICE_HOLDER = "Service"
VOLUME_HOLDER = "PersistentVolume"


@dataclass(frozen=True, slots=True)
class AssetKey:
    """Everything the price of a volume or a load balancer depends on
    (``capacity.asset_pricing.asset_price``): the StorageClass's name, provisioner and parameters
    (EBS ``type``, GCE ``type``, Azure ``skuName``), or the Service's load-balancer class.

    ``local``: a local or hostPath volume, part of its node's price unless its class or
    provisioner has a configured price.
    """

    kind: str  # VOLUME | LOAD_BALANCER
    storage_class: str | None = None
    provisioner: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    load_balancer_class: str | None = None
    local: bool = False

    @property
    def digest(self) -> str:
        """A canonical hash of the key: equal keys, equal digests (the store's unique column), of a
        fixed length whatever the StorageClass's parameters hold."""
        fields = [self.kind, self.storage_class, self.provisioner, [list(p) for p in self.parameters],
                  self.load_balancer_class, self.local]  # fmt: skip
        return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class VolumeRecord:
    """One PersistentVolume in one snapshot: what is provisioned (and charged), and who holds it."""

    name: str
    key: AssetKey
    capacity_bytes: float
    phase: str
    reclaim_policy: str | None
    zone: str | None
    claim_namespace: str | None  # the claim it is bound to; None: no claim (billed to __unmounted__)
    claim_name: str | None
    claim_requested_bytes: float | None  # what its claim asked for (None: unknown)
    mounted_pods: int  # pods bound to a node that mount its claim at the instant


@dataclass(frozen=True, slots=True)
class LoadBalancerRecord:
    """One Service of type LoadBalancer in one snapshot, and how many pods its selector matches."""

    namespace: str
    name: str
    key: AssetKey
    selector: dict[str, str]
    ingress: list[str]  # hostnames and IPs
    selected_pods: int


@dataclass(frozen=True, slots=True)
class AssetShare:
    """What a workload holds of volumes or load balancers of one key in one snapshot: bytes of
    volumes (a claim's bytes split evenly between the pods mounting it at once), or load
    balancers (each split evenly between the pods it selects). Unmounted claims and
    unselecting Services hold their own share under a workload of kind ``PersistentVolumeClaim``
    or ``Service``; volumes with no claim under kind ``PersistentVolume`` (``__unmounted__``)."""

    workload: WorkloadKey
    key: AssetKey
    amount: float


@dataclass(frozen=True, slots=True)
class HpaMetric:
    """One metric a HorizontalPodAutoscaler scales on, and its target."""

    type: str  # Resource | ContainerResource | Pods | Object | External
    name: str  # the resource (cpu, memory) or the metric's name
    target_type: str  # Utilization | AverageValue | Value
    target: float  # a percentage of the request for Utilization, else the value in base units
    container: str = ""  # the container a ContainerResource metric measures


@dataclass(frozen=True, slots=True)
class HpaRecord:
    """One HorizontalPodAutoscaler (autoscaling/v2) in one snapshot, with the workload it scales."""

    namespace: str
    name: str
    workload: WorkloadKey  # its scaleTargetRef (Deployment, StatefulSet, Rollout, ...)
    min_replicas: int
    max_replicas: int
    current_replicas: int | None
    desired_replicas: int | None
    metrics: list[HpaMetric]


@dataclass(frozen=True, slots=True)
class NamespaceRecord:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    instance_type: str | None
    capacity_type: str  # on-demand | spot
    zone: str | None
    region: str | None
    node_pool: str | None
    labels: dict[str, str]
    capacity: Resources
    allocatable: Resources
    pods_allocatable: int
    ready: bool
    unschedulable: bool
    requested: Resources  # sum of effective requests of pods bound here and not finished
    usage: Resources | None  # None: metrics unknown for this node
    price_key: PriceKey  # what its price depends on: reports price it (capacity.costing)
    # Sum over its containers of max(request, usage), never above capacity: usage beyond
    # requests is scaled down to what the node has, and the cut is reported as overcommit.
    allocated: Resources = Resources()
    overcommit: Resources = Resources()
    taints: list[object] = field(default_factory=list)  # spec.taints, raw


@dataclass(frozen=True, slots=True)
class WorkloadKey:
    namespace: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class ContainerSample:
    """One (workload, container) summed over the replicas of one snapshot.

    Only pods bound to a node and not finished are replicas; pending pods without a node
    are counted in ``pending_replicas`` and their requests in the ``pending_*`` fields
    (unmet demand, never costed).
    """

    workload: WorkloadKey
    container: str
    replicas: int
    cpu_request: float
    memory_request: float
    gpu_request: float
    cpu_limit: float | None  # None when no replica sets a limit
    memory_limit: float | None
    usage_replicas: int  # replicas for which metrics were known
    cpu_usage_sum: float | None
    memory_usage_sum: float | None
    cpu_usage_max: float | None  # per-replica maximum
    memory_usage_max: float | None
    cpu_allocated: float  # sum over replicas of max(request, usage)
    memory_allocated: float
    restarts: int
    oom_kills: int
    pending_replicas: int
    pending_cpu_request: float
    pending_memory_request: float
    # Per-replica CPU usage in this snapshot, as {histogram bucket: replicas} (capacity.histogram).
    cpu_usage_hist: dict[int, float] = field(default_factory=dict)
    # What the replicas were allocated, by the price key of the nodes they ran on:
    # {key: (cpu cores, memory bytes, GPU devices)}; the cost rule prices these.
    allocations: dict[PriceKey, tuple[float, float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodRecord:
    """Latest pod-grain state: which pod sits where and what pins it there."""

    namespace: str
    name: str
    node: str | None
    phase: str
    workload: WorkloadKey
    request: Resources  # effective request (what the scheduler reserves)
    usage: Resources | None
    priority: int
    node_selector: dict[str, str]
    required_affinity: list[object]  # requiredDuringScheduling nodeSelectorTerms, raw
    tolerations: list[object]
    daemonset: bool
    restarts: int
    oom_kills: int
    repels_own: bool = False  # required pod anti-affinity on the hostname against its own kind
    zone_skew: int | None = None  # the maxSkew of a DoNotSchedule spread over zones, if any


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    namespace: str
    name: str
    resource: str
    hard: float
    used: float | None


@dataclass(slots=True)
class Snapshot:
    """A whole normalized snapshot of one cluster at one instant."""

    cluster: str
    taken_at: datetime
    source: str  # kubernetes | simulator
    usage_known: bool
    namespaces: list[NamespaceRecord] = field(default_factory=list)
    workload_labels: dict[WorkloadKey, dict[str, str]] = field(default_factory=dict)
    nodes: list[NodeRecord] = field(default_factory=list)
    containers: list[ContainerSample] = field(default_factory=list)
    pods: list[PodRecord] = field(default_factory=list)
    quotas: list[QuotaRecord] = field(default_factory=list)
    volumes: list[VolumeRecord] = field(default_factory=list)
    load_balancers: list[LoadBalancerRecord] = field(default_factory=list)
    assets: list[AssetShare] = field(default_factory=list)
    hpas: list[HpaRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
