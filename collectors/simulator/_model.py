"""The static description of one simulated cluster: pools, namespaces, workloads and how they behave.

Everything here is decided once, from the fleet seed, when the cluster is built. What changes
with time (replicas, nodes, usage, revisions) is computed from these facts by ``_plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.simulator._catalog import (
    InstanceType,
    PoolTemplate,
)
from collectors.simulator._util import KI, MI, fmt_bytes, fmt_cpu, mix, parse_bytes, parse_cpu_m

B = 900  # seconds per autoscaling decision (replica counts and node counts change on this grid)
DAY_BUCKETS = 86400 // B
WEEK = 7 * 86400
STEP = 12  # seconds between the pods of a rolling update
NEVER = 1 << 40  # a time far in the future


@dataclass(slots=True)
class ContainerT:
    """One container of a pod template, with how much it uses at nominal load."""

    name: str
    image: str  # repository; app containers get a tag per revision
    versioned: bool
    requests: dict[str, str]
    limits: dict[str, str]
    cpu_use_m: float  # millicores used at nominal load
    mem_use_b: float  # bytes of working set at nominal load
    restartable: bool = False  # native sidecar: an init container with restartPolicy Always
    oom: bool = False  # memory climbs to the limit and the container is OOM killed, again and again
    bursty: bool = False
    ports: tuple[tuple[str, int], ...] = ()
    probes: bool = True
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    cpu_req_m: int = 0
    mem_req_b: int = 0
    cpu_lim_m: int = 0  # 0: no limit
    mem_lim_b: int = 0
    gpu: int = 0

    def __post_init__(self) -> None:
        self.cpu_req_m = parse_cpu_m(self.requests["cpu"]) if "cpu" in self.requests else 0
        self.mem_req_b = parse_bytes(self.requests["memory"]) if "memory" in self.requests else 0
        self.cpu_lim_m = parse_cpu_m(self.limits["cpu"]) if "cpu" in self.limits else 0
        self.mem_lim_b = parse_bytes(self.limits["memory"]) if "memory" in self.limits else 0
        self.gpu = int(self.requests.get("nvidia.com/gpu", "0"))


@dataclass(slots=True)
class Shape:
    """The containers of one pod template revision and what the scheduler reserves for it."""

    containers: tuple[ContainerT, ...]
    init: tuple[ContainerT, ...] = ()
    overhead: dict[str, str] | None = None
    eff_cpu_m: int = 0
    eff_mem_b: int = 0
    eff_gpu: int = 0
    lim_mem_b: int = 0  # pod memory limit for quota (0 when some container has none)
    qos: str = "BestEffort"

    def __post_init__(self) -> None:
        oh_cpu = parse_cpu_m(self.overhead["cpu"]) if self.overhead else 0
        oh_mem = parse_bytes(self.overhead["memory"]) if self.overhead else 0
        self.eff_cpu_m = _effective(self, "cpu_req_m") + oh_cpu
        self.eff_mem_b = _effective(self, "mem_req_b") + oh_mem
        self.eff_gpu = _effective(self, "gpu")
        running = [*self.containers, *(c for c in self.init if c.restartable)]
        self.lim_mem_b = 0 if any(c.mem_lim_b == 0 for c in running) else sum(c.mem_lim_b for c in running)
        allc = [*self.containers, *self.init]
        if all(not c.requests and not c.limits for c in allc):
            self.qos = "BestEffort"
        elif all(
            c.cpu_lim_m and c.mem_lim_b and c.cpu_lim_m == c.cpu_req_m and c.mem_lim_b == c.mem_req_b
            for c in allc
        ):
            self.qos = "Guaranteed"
        else:
            self.qos = "Burstable"


def _effective(shape: Shape, attr: str) -> int:
    """What the scheduler reserves: max(app + sidecars, each init + the sidecars before it)."""
    total = sum(getattr(c, attr) for c in shape.containers)
    sidecars = 0
    init_max = 0
    for c in shape.init:
        v = int(getattr(c, attr))
        if c.restartable:
            total += v
            sidecars += v
            init_max = max(init_max, sidecars)
        else:
            init_max = max(init_max, v + sidecars)
    return int(max(total, init_max))


@dataclass(slots=True)
class CronSpec:
    """A schedule of runs: CronJob runs, one-off Jobs, or the lifetimes of bare pods."""

    schedule: str
    period: int
    offset: int
    duration: int
    parallelism: int = 1
    fail_rate: float = 0.0
    backoff_limit: int = 6
    keep_succeeded: int = 3
    keep_failed: int = 1


@dataclass(slots=True)
class Workload:
    idx: int
    key: int
    namespace: str
    name: str
    kind: str  # Deployment | Rollout | StatefulSet | DaemonSet | Static | CronJob | Job | Bare
    team: str | None
    app: str
    profile: str
    pool: int  # target pool; -1 for per-node kinds
    shapes: tuple[Shape, ...]
    labels: dict[str, str]
    image_tag0: int = 0
    resize_rev: int = NEVER
    r0: float = 1.0
    hpa: tuple[int, int] | None = None
    growth: float = 0.0  # fraction per week
    amp: float = 0.8  # how strongly the daily cycle moves its load
    dip: float = 0.25  # weekend dip
    period: int = 3 * 86400  # seconds between deploys
    anchor: int = 0  # time of revision 0
    history: int = 10  # revisionHistoryLimit
    life: int = 7 * 86400  # pods are recreated (node drains, evictions) about this often
    born: int = -NEVER
    died: int = NEVER
    priority: int = 0
    priority_class: str | None = None
    node_selector: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    spread: list[dict[str, Any]] = field(default_factory=list)  # topologySpreadConstraints
    runtime_class: str | None = None
    host_network: bool = False
    service_account: str = "default"
    cron: CronSpec | None = None
    oom_period: int = 0
    restart_every: int = 0
    evictions: bool = False
    ds_pools: tuple[int, ...] = ()
    restart_policy: str = "Always"
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def replicated(self) -> bool:
        return self.kind in ("Deployment", "Rollout", "StatefulSet")

    def shape_for(self, rev: int) -> Shape:
        return self.shapes[1] if rev >= self.resize_rev and len(self.shapes) > 1 else self.shapes[0]

    def rev_at(self, t: float) -> int:
        """The revision (number of deploys) live at ``t``."""
        if t < self.anchor:
            return 0
        k = int((t - self.anchor) // self.period)
        if t < self.rev_start(k):
            k -= 1
        return max(k, 0)

    def rev_start(self, rev: int) -> int:
        """When revision ``rev`` was rolled out (deploy times jitter within their period)."""
        jitter = (mix(self.key, rev, 0x7E) % max(self.period // 3, 1)) if self.period < NEVER // 2 else 0
        return self.anchor + rev * self.period + jitter


@dataclass(slots=True)
class NamespaceT:
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    created: int
    quota: dict[str, str] | None = None  # ResourceQuota spec.hard


@dataclass(slots=True)
class Pool:
    idx: int
    tpl: PoolTemplate
    types: tuple[InstanceType, ...]
    key: int
    gpu: bool
    min_nodes: int = 1
    max_nodes: int = 10
    rot_buckets: int = 7 * DAY_BUCKETS
    per_node: list[Workload] = field(default_factory=list)  # DaemonSets and static pods here
    ds_cpu_m: int = 0
    ds_mem_b: int = 0
    ds_pods: int = 0
    avail_cpu_m: float = 0.0
    avail_mem_b: float = 0.0
    avail_gpu: float = 0.0
    avail_pods: float = 0.0
    fixed_nodes: int = 0  # >0: no autoscaling (huge benchmark cluster)

    def alloc(self, it: InstanceType) -> tuple[int, int, int, int]:
        """Allocatable CPU millicores, memory bytes, GPUs and pods of a node of type ``it``."""
        mem_ki = it.memory_capacity_ki - it.reserved_memory_b // KI
        return it.vcpu * 1000 - it.reserved_cpu_m, mem_ki * KI, it.gpu, it.max_pods


def container(
    name: str,
    image: str,
    cpu: str | None = None,
    mem: str | None = None,
    cpu_lim: str | None = None,
    mem_lim: str | None = None,
    *,
    use_cpu: float = 0.0,
    use_mem: float = 0.0,
    versioned: bool = False,
    gpu: int = 0,
    **kw: Any,
) -> ContainerT:
    """A container; requests default to limits as the API server does."""
    req: dict[str, str] = {}
    lim: dict[str, str] = {}
    if cpu_lim:
        lim["cpu"] = cpu_lim
    if mem_lim:
        lim["memory"] = mem_lim
    if gpu:
        lim["nvidia.com/gpu"] = str(gpu)
    if cpu or cpu_lim:
        req["cpu"] = cpu or cpu_lim or "0"
    if mem or mem_lim:
        req["memory"] = mem or mem_lim or "0"
    if gpu:
        req["nvidia.com/gpu"] = str(gpu)
    return ContainerT(name, image, versioned, req, lim, use_cpu, use_mem, **kw)


def scale_mem(q: str, f: float) -> str:
    if f == 1.0:
        return q
    b = parse_bytes(q) * f
    if q[-1] in "MG" and not q.endswith("i"):
        return f"{round(b / 1e6)}M"
    return fmt_bytes(max(1, round(b / MI)) * MI)


def scale_cpu(q: str, f: float) -> str:
    return fmt_cpu(max(1, round(parse_cpu_m(q) * f / 10) * 10))


# --- generation ---------------------------------------------------------------------------------
