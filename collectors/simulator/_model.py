"""The static description of one simulated cluster: pools, namespaces, workloads and how they behave.

Everything here is decided once, from the fleet seed, when the cluster is built. What changes
with time (replicas, nodes, usage, revisions) is computed from these facts by ``_plan``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from collectors.simulator._catalog import (
    CPU_SIZES,
    CRON_NAMES,
    INSTANCE_TYPES,
    MEM_SIZES,
    TEAMS,
    USERS,
    ClusterTemplate,
    InstanceType,
    PoolTemplate,
)
from collectors.simulator._util import GI, KI, MI, fmt_bytes, fmt_cpu, mix, parse_bytes, parse_cpu_m, skey

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


def _scale_mem(q: str, f: float) -> str:
    if f == 1.0:
        return q
    b = parse_bytes(q) * f
    if q[-1] in "MG" and not q.endswith("i"):
        return f"{round(b / 1e6)}M"
    return fmt_bytes(max(1, round(b / MI)) * MI)


def _scale_cpu(q: str, f: float) -> str:
    return fmt_cpu(max(1, round(parse_cpu_m(q) * f / 10) * 10))


# --- generation ---------------------------------------------------------------------------------

_GPU_SERVICES = {"reco-inference", "model-server", "embedding-service"}
_COMPUTE = {
    "transcoder",
    "search-ranker",
    "bid-optimizer",
    "pricing-engine",
    "fraud-scorer",
    "route-planner",
    "indexer",
    "trino-worker",
    "flink-taskmanager",
}
_MEMORY = {
    "notebook-hub",
    "online-store",
    "session-store",
    "message-store",
    "schema-registry",
    "feature-fetcher",
    "tile-server",
    "ledger",
}
_SPOT = {
    "airflow-worker",
    "clickstream-etl",
    "stream-processor",
    "image-resizer",
    "thumbnailer",
    "export-worker",
    "email-worker",
    "moderation-worker",
    "retention-worker",
    "renewal-worker",
    "candidate-gen",
    "dataset-prep",
}
_ROLLOUTS = {"checkout", "search-api"}
_HIGH_PRIORITY_TEAMS = {"payments", "checkout", "identity", "gateway", "edge"}
_SCHEDULES = (
    ("*/15 * * * *", 900, (60, 420)),
    ("*/30 * * * *", 1800, (120, 900)),
    ("{m} * * * *", 3600, (120, 1500)),
    ("{m} */6 * * *", 21600, (600, 3600)),
    ("{m} {h} * * *", 86400, (900, 7200)),
)
_PROFILES = (
    ("overprovisioned", 30),
    ("wellsized", 24),
    ("bursty", 12),
    ("oom", 7),
    ("idle", 9),
    ("underprovisioned", 6),
    ("wellsized", 6),
)
_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def _pick_profile(rng: random.Random) -> str:
    total = sum(w for _, w in _PROFILES)
    x = rng.random() * total
    for name, w in _PROFILES:
        x -= w
        if x < 0:
            return name
    return "wellsized"


def _role_of(svc: str, rng: random.Random) -> str:
    if svc in _GPU_SERVICES:
        return "gpu"
    if svc in _COMPUTE:
        return "compute"
    if svc in _MEMORY or svc.endswith("-store"):
        return "memory"
    if svc in _SPOT or (svc.endswith("-worker") and rng.random() < 0.5):
        return "spot"
    return "spot" if rng.random() < 0.12 else "general"


def _app_container(rng: random.Random, svc: str, team: str, role: str, profile: str) -> ContainerT:
    """The main container of a team service, sized and behaving according to its profile."""
    size = {
        "general": ("xs", "s", "s", "s", "m", "m"),
        "compute": ("m", "l", "l"),
        "memory": ("s", "m"),
        "spot": ("s", "m", "m"),
        "gpu": ("m", "l"),
    }[role]
    csize = rng.choice(size)
    up = {"xs": "s", "s": "m", "m": "l", "l": "l", "xl": "xl"}
    msize = rng.choice(
        {"memory": ("l", "xl"), "gpu": ("l",), "compute": ("m", "l")}.get(role, (csize, up[csize]))
    )
    cpu = rng.choice(CPU_SIZES[csize])
    mem = rng.choice(MEM_SIZES[msize])
    cpu_m = parse_cpu_m(cpu)
    mem_b = parse_bytes(mem)
    # limits: teams do all sorts of things
    x = rng.random()
    cpu_lim: str | None = None
    if profile != "underprovisioned" and x < 0.55:
        cpu_lim = cpu if x < 0.2 else _scale_cpu(cpu, rng.choice((2.0, 2.0, 4.0)))
    y = rng.random()
    mem_lim: str | None
    if profile == "oom":
        mem_lim = mem if y < 0.6 else _scale_mem(mem, 1.25)
    elif y < 0.12 and profile != "underprovisioned":
        mem_lim = None
    else:
        mem_lim = mem if y < 0.45 else _scale_mem(mem, rng.choice((1.5, 2.0, 2.0)))
    lo, hi = {
        "overprovisioned": ((0.04, 0.15), (0.15, 0.35)),
        "wellsized": ((0.45, 0.75), (0.55, 0.85)),
        "bursty": ((0.15, 0.35), (0.40, 0.70)),
        "oom": ((0.20, 0.50), (0.60, 0.90)),
        "idle": ((0.002, 0.01), (0.05, 0.15)),
        "underprovisioned": ((1.30, 2.20), (0.80, 0.95)),
    }[profile]
    use_cpu = cpu_m * rng.uniform(*lo)
    use_mem = mem_b * rng.uniform(*hi)
    if mem_lim:
        use_mem = min(use_mem, 0.9 * parse_bytes(mem_lim))
    if profile == "idle":
        use_cpu = rng.uniform(0.5, 3.0)
    env = [
        ("APP_NAME", svc),
        ("TEAM", team),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.monitoring:4317"),
    ]
    if role in ("memory", "compute") or rng.random() < 0.3:
        env.append(("JAVA_TOOL_OPTIONS", f"-XX:MaxRAMPercentage=75 -XX:+UseG1GC -Dservice.name={svc}"))
    gpu = 1 if role == "gpu" else 0
    return container(
        svc.rsplit("-", 1)[0] if rng.random() < 0.3 and "-" in svc else svc,
        f"{_REGISTRY}/{team}/{svc}",
        cpu,
        mem,
        cpu_lim,
        mem_lim,
        use_cpu=use_cpu,
        use_mem=use_mem,
        versioned=True,
        gpu=gpu,
        oom=profile == "oom",
        bursty=profile == "bursty",
        ports=(("http", 8080), ("metrics", 9090)),
        env=tuple(env),
    )


def _resized(c: ContainerT, profile: str, rng: random.Random) -> ContainerT:
    """The same container after a rollout that changed its requests."""
    if profile == "oom":  # the team raised memory after the OOM kills: they stop
        mem = _scale_mem(c.requests["memory"], 2.0)
        lim = _scale_mem(c.limits["memory"], 2.0)
        return container(
            c.name,
            c.image,
            c.requests.get("cpu"),
            mem,
            c.limits.get("cpu"),
            lim,
            use_cpu=c.cpu_use_m,
            use_mem=0.55 * parse_bytes(lim),
            versioned=True,
            gpu=c.gpu,
            ports=c.ports,
            env=c.env,
        )
    f = rng.choice((0.5, 0.4, 0.25)) if profile in ("overprovisioned", "idle") else rng.choice((1.5, 2.0))
    cpu = _scale_cpu(c.requests.get("cpu", "100m"), f)
    mem = _scale_mem(c.requests.get("memory", "128Mi"), max(f, 0.5))
    cpu_lim = _scale_cpu(c.limits["cpu"], f) if "cpu" in c.limits else None
    mem_lim = _scale_mem(c.limits["memory"], max(f, 0.5)) if "memory" in c.limits else None
    use_mem = c.mem_use_b if not mem_lim else min(c.mem_use_b, 0.9 * parse_bytes(mem_lim))
    return container(
        c.name,
        c.image,
        cpu,
        mem,
        cpu_lim,
        mem_lim,
        use_cpu=c.cpu_use_m,
        use_mem=use_mem,
        versioned=True,
        gpu=c.gpu,
        bursty=c.bursty,
        ports=c.ports,
        env=c.env,
    )


def _linkerd() -> tuple[ContainerT, ContainerT]:
    init = container(
        "linkerd-init",
        "cr.l5d.io/linkerd/proxy-init:v2.4.1",
        "100m",
        "20Mi",
        "100m",
        "20Mi",
        probes=False,
        args=("--incoming-proxy-port", "4143", "--outgoing-proxy-port", "4140"),
    )
    proxy = container(
        "linkerd-proxy",
        "cr.l5d.io/linkerd/proxy:edge-24.11.8",
        "100m",
        "20Mi",
        None,
        "250Mi",
        use_cpu=12.0,
        use_mem=26 * MI,
        restartable=True,
        ports=(("linkerd-proxy", 4143),),
    )
    return init, proxy


class Generator:
    """Builds the workloads, namespaces and pools of one cluster from the fleet seed."""

    def __init__(self, tpl: ClusterTemplate, name: str, seed: int, teams: int, start: int) -> None:
        self.tpl = tpl
        self.name = name
        self.seed = seed
        self.ckey = mix(seed, skey(name))
        self.start = start
        self.workloads: list[Workload] = []
        self.namespaces: dict[str, NamespaceT] = {}
        self.pools: list[Pool] = []
        self.teams = _team_list(teams)
        self._names: set[tuple[str, str]] = set()
        for i, pt in enumerate(tpl.pools):
            types = tuple(
                sorted(
                    (INSTANCE_TYPES[n] for n in pt.instance_types),
                    key=lambda it: (-it.vcpu, -it.memory_gib, it.name),
                )
            )
            pool = Pool(i, pt, types, mix(self.ckey, skey(pt.name)), any(t.gpu for t in types))
            pool.min_nodes = pt.min_nodes
            pool.rot_buckets = max(8, int(pt.rotate_days * DAY_BUCKETS))
            self.pools.append(pool)

    # -- helpers

    def rng(self, *parts: str, shared: bool = False) -> random.Random:
        base = self.seed if shared else self.ckey
        return random.Random(mix(base, *(skey(p) for p in parts)))

    def pool_for(self, role: str) -> int | None:
        for p in self.pools:
            if role in p.tpl.roles and p.gpu == (role == "gpu"):
                return p.idx
        if role == "gpu":
            return None
        for p in self.pools:
            if "general" in p.tpl.roles:
                return p.idx
        return 0

    def add_ns(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        *,
        created: int | None = None,
        annotations: dict[str, str] | None = None,
    ) -> NamespaceT:
        ns = self.namespaces.get(name)
        if ns is None:
            when = (
                created
                if created is not None
                else self.start - 86400 * (200 + mix(self.ckey, skey(name)) % 400)
            )
            ns = NamespaceT(
                name, {"kubernetes.io/metadata.name": name, **(labels or {})}, annotations or {}, when
            )
            self.namespaces[name] = ns
        return ns

    def add(self, w: Workload) -> Workload | None:
        if (w.namespace, w.name) in self._names:
            return None
        self._names.add((w.namespace, w.name))
        w.idx = len(self.workloads)
        self.workloads.append(w)
        return w

    def pin(self, w: Workload, rng: random.Random) -> None:
        """Node selectors, affinities and tolerations that keep a workload on its pool."""
        pool = self.pools[w.pool]
        pt = pool.tpl
        if pt.provisioner == "karpenter":
            key, val = "karpenter.sh/nodepool", pt.name
        elif pt.provisioner == "nodegroup":
            key, val = "eks.amazonaws.com/nodegroup", pt.name
        else:
            key, val = "cloud.google.com/gke-nodepool", pt.name
        if pool.gpu:
            w.tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
        if pt.spot and rng.random() < 0.5:
            cap_key = {
                "karpenter": "karpenter.sh/capacity-type",
                "nodegroup": "eks.amazonaws.com/capacityType",
                "gke": "cloud.google.com/gke-spot",
            }[pt.provisioner]
            cap_val = {"karpenter": "spot", "nodegroup": "SPOT", "gke": "true"}[pt.provisioner]
            key, val = cap_key, cap_val
        x = rng.random()
        shared_general = "general" in pt.roles and x < 0.6
        if shared_general:
            return  # no constraint: schedulable anywhere (we place it on the general pool)
        if x < 0.75 or pool.gpu:
            w.node_selector = {key: val}
        else:
            w.affinity = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": key, "operator": "In", "values": [val]}]}
                        ]
                    }
                }
            }

    # -- team workloads

    def build_teams(self) -> None:
        tpl = self.tpl
        for team, services in self.teams:
            tkey = skey(team)
            if tpl.team_share < 1.0 and (mix(self.ckey, tkey, 1) % 1000) / 1000 >= tpl.team_share:
                continue
            trng = self.rng(team, shared=True)
            label_style = trng.random()  # <0.6 namespace label; 0.35..0.75 pod labels; >0.9 neither
            ns_label = label_style < 0.6
            pod_label = 0.35 < label_style < 0.78
            growth = trng.choice((0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05))
            mesh = trng.random() < 0.25
            n_services = trng.randint(2, max(2, len(services.split())))
            onboarded = self.start + 86400 * trng.randint(3, 20) if trng.random() < 0.06 else None
            labels = {"team": team} if ns_label else {}
            if trng.random() < 0.5:
                labels["cost-center"] = f"cc-{1000 + tkey % 9000}"
            if tpl.env != "production" or trng.random() < 0.3:
                labels["environment"] = tpl.env
            annotations = {"linkerd.io/inject": "enabled"} if mesh else {}
            ns = self.add_ns(team, labels, created=onboarded, annotations=annotations)
            if trng.random() < 0.35:
                ns.quota = {}  # sized after calibration
            for svc in services.split()[:n_services]:
                srng = self.rng(team, svc, shared=True)
                target_ns = team
                if srng.random() < 0.07:
                    target_ns = "shared-services"
                    self.add_ns(target_ns, {"environment": tpl.env})
                self._service(
                    team, svc, target_ns, srng, growth, pod_label or target_ns != team, mesh, onboarded
                )
            ncron = trng.choice((0, 0, 1, 1, 1, 2))
            if tpl.env != "production":
                ncron = min(ncron, 1)
            for c in trng.sample(CRON_NAMES, ncron):
                batch_ns = team
                if trng.random() < 0.4:
                    batch_ns = f"{team}-batch"
                    self.add_ns(batch_ns, labels, created=onboarded)
                self._cron(team, f"{team}-{c}", batch_ns, pod_label, growth, onboarded)
            if team == "ml-training" and self.pool_for("gpu") is not None:
                self._cron(team, "nightly-train", team, pod_label, growth, onboarded, gpu=True)
            if team == "payments" and tpl.env == "production":
                self._migration_job(team)

    def _service(
        self,
        team: str,
        svc: str,
        ns: str,
        srng: random.Random,
        growth: float,
        pod_label: bool,
        mesh: bool,
        onboarded: int | None,
    ) -> None:
        crng = self.rng(team, svc)
        role = _role_of(svc, srng)
        pool = self.pool_for(role)
        if pool is None:
            return
        profile = _pick_profile(srng)
        if role == "gpu":
            profile = "wellsized"
        kind = "Deployment"
        if svc in _ROLLOUTS:
            kind = "Rollout"
        elif svc.endswith("-store") or svc == "ledger":
            kind = "StatefulSet"
        main = _app_container(srng, svc, team, role, profile)
        conts = [main]
        init: list[ContainerT] = []
        if srng.random() < 0.15:
            side = srng.choice(("otel-collector", "cloud-sql-proxy", "envoy"))
            conts.append(
                container(
                    side,
                    f"ghcr.io/acme/{side}:1.9.2",
                    "50m",
                    "64Mi",
                    None,
                    "128Mi",
                    use_cpu=8.0,
                    use_mem=40 * MI,
                    probes=False,
                )
            )
        if mesh:
            linit, proxy = _linkerd()
            init += [linit, proxy]
        if srng.random() < 0.22:
            if srng.random() < 0.5:
                init.append(
                    container(
                        "wait-for-deps",
                        "busybox:1.36",
                        "10m",
                        "16Mi",
                        "10m",
                        "16Mi",
                        probes=False,
                        args=("sh", "-c", "until nc -z postgres 5432; do sleep 2; done"),
                    )
                )
            else:
                init.append(
                    container(
                        "db-migrate",
                        main.image,
                        "500m",
                        "512Mi",
                        "1",
                        "512Mi",
                        versioned=True,
                        probes=False,
                        args=("migrate", "up"),
                    )
                )
        overhead = None
        runtime = None
        if svc == "sandbox-runner":
            overhead = {"cpu": "250m", "memory": "160Mi"}
            runtime = "kata-qemu"
        shapes = [Shape(tuple(conts), tuple(init), overhead)]
        resize_at: int | None = None
        if srng.random() < 0.14 or (profile == "oom" and srng.random() < 0.5):
            shapes.append(Shape((_resized(main, profile, srng), *conts[1:]), tuple(init), overhead))
            resize_at = self.start + int(86400 * srng.uniform(2, 18))
        labels = {"app.kubernetes.io/name": svc, "app.kubernetes.io/instance": f"{svc}-{self.tpl.env[:4]}"}
        if srng.random() < 0.5:
            labels["app"] = svc
        labels["app.kubernetes.io/component"] = "server" if "worker" not in svc else "worker"
        if srng.random() < 0.6:
            labels["app.kubernetes.io/version"] = "__version__"
        if pod_label:
            labels["team"] = team
        big = any(
            k in svc for k in ("api", "gateway", "web", "server", "service", "router", "bff", "checkout")
        )
        r0 = crng.uniform(4, 12) if big else crng.uniform(2, 5)
        if profile == "idle":
            r0 = crng.choice((1, 1, 2))
        if kind == "StatefulSet":
            r0 = 3
        hpa = None
        if kind != "StatefulSet" and profile != "idle" and (big or role == "gpu" or srng.random() < 0.35):
            hpa = (1, 1)  # bounds set after calibration
        period = int(86400 * srng.uniform(1.0, 8.0))
        if profile == "idle":
            period = NEVER
        w = Workload(
            0,
            mix(self.ckey, skey(ns), skey(svc)),
            ns,
            svc,
            kind,
            team,
            svc,
            profile,
            pool,
            tuple(shapes),
            labels,
            r0=r0,
            hpa=hpa,
            growth=growth * srng.uniform(0.5, 1.5),
            amp=srng.uniform(0.5, 1.1) if profile != "idle" else 0.05,
            dip=srng.uniform(0.1, 0.4),
            period=period,
            history=srng.choice((10, 10, 5, 3)),
            life=int(86400 * (crng.uniform(0.5, 1.5) if self.pools[pool].tpl.spot else crng.uniform(3, 14))),
            born=(onboarded or -NEVER),
            priority=100000 if team in _HIGH_PRIORITY_TEAMS else 0,
            priority_class="high-priority" if team in _HIGH_PRIORITY_TEAMS else None,
            runtime_class=runtime,
            oom_period=int(3600 * srng.uniform(4, 30)) if profile == "oom" else 0,
            restart_every=int(86400 * srng.uniform(5, 90)) if srng.random() < 0.3 else 0,
            evictions=profile in ("oom", "bursty") and self.pools[pool].tpl.spot,
            service_account=svc if srng.random() < 0.5 else "default",
        )
        if role == "gpu":
            w.amp = 1.0
        w.image_tag0 = srng.randint(20, 300)
        self._revisions(w, srng, resize_at)
        self.pin(w, srng)
        self.add(w)

    def _revisions(self, w: Workload, rng: random.Random, resize_at: int | None) -> None:
        """Place revision 0 so that the history starts some revisions in; resize at a deploy."""
        if w.period >= NEVER:
            w.anchor = self.start - 86400 * rng.randint(60, 400)
            return
        rev0 = rng.randint(3, 40)
        w.anchor = self.start - rev0 * w.period - int(rng.random() * w.period)
        if resize_at is not None:
            w.resize_rev = w.rev_at(resize_at) + 1

    def _cron(
        self,
        team: str,
        name: str,
        ns: str,
        pod_label: bool,
        growth: float,
        onboarded: int | None,
        *,
        gpu: bool = False,
    ) -> None:
        rng = self.rng(ns, name, shared=True)
        if gpu:
            sched, period, dur = "0 1 * * *", 86400, (9000, 12600)
            cpu, mem = "3", "12Gi"
        else:
            sched, period, dur = rng.choice(_SCHEDULES)
            cpu = rng.choice(CPU_SIZES[rng.choice(("s", "m", "l"))])
            mem = rng.choice(MEM_SIZES[rng.choice(("s", "m", "l"))])
        minute = rng.randrange(0, 60) if "{m}" in sched else 0
        hour = rng.randrange(0, 6) if "{h}" in sched else 0
        offset = minute * 60 + hour * 3600
        sched = sched.format(m=minute, h=hour)
        c = container(
            name.removeprefix(f"{team}-"),
            f"{_REGISTRY}/{team}/{name}",
            cpu,
            mem,
            None,
            mem if gpu else _scale_mem(mem, rng.choice((1.0, 1.5, 2.0))),
            use_cpu=parse_cpu_m(cpu) * rng.uniform(0.6, 0.95),
            use_mem=parse_bytes(mem) * rng.uniform(0.4, 0.8),
            versioned=True,
            probes=False,
            gpu=1 if gpu else 0,
            args=("run", "--once"),
        )
        pool_role = "gpu" if gpu else rng.choice(("spot", "general", "spot"))
        pool = self.pool_for(pool_role)
        if pool is None:
            return
        labels = {"app.kubernetes.io/name": name}
        if pod_label:
            labels["team"] = team
        par = 4 if gpu else rng.choice((1, 1, 1, 2, 3))
        fail = rng.choice((0.0, 0.0, 0.03, 0.1))
        cron = CronSpec(sched, period, offset, rng.randint(*dur), par, fail, backoff_limit=0 if fail else 6)
        w = Workload(
            0,
            mix(self.ckey, skey(ns), skey(name)),
            ns,
            name,
            "CronJob",
            team,
            name,
            "batch",
            pool,
            (Shape((c,)),),
            labels,
            growth=growth,
            period=int(86400 * rng.uniform(5, 20)),
            born=(onboarded or -NEVER),
            cron=cron,
            restart_policy="Never",
            priority=-10 if not gpu else 0,
            priority_class="batch-low" if not gpu else None,
        )
        w.image_tag0 = rng.randint(5, 80)
        self._revisions(w, rng, None)
        self.pin(w, rng)
        self.add(w)

    def _migration_job(self, team: str) -> None:
        """A Helm pre-upgrade hook Job: no CronJob owner; only the latest one is kept."""
        c = container(
            "migrate",
            f"{_REGISTRY}/{team}/ledger",
            "250m",
            "256Mi",
            None,
            "512Mi",
            use_cpu=200.0,
            use_mem=180 * MI,
            versioned=True,
            probes=False,
            args=("migrate", "--to", "latest"),
        )
        pool = self.pool_for("general") or 0
        cron = CronSpec("@helm-hook", 6 * 86400, 14 * 3600 + 1800, 95, keep_succeeded=1, keep_failed=0)
        w = Workload(
            0,
            mix(self.ckey, skey("ledger-migrate")),
            team,
            "ledger-migrate",
            "Job",
            team,
            "ledger",
            "batch",
            pool,
            (Shape((c,)),),
            {"app.kubernetes.io/name": "ledger"},
            cron=cron,
            restart_policy="Never",
            period=NEVER,
            anchor=self.start - 86400 * 300,
        )
        w.annotations = {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}
        self.add(w)

    # -- sandboxes and bare pods

    def build_misc(self) -> None:
        rng = self.rng("misc")
        self.add_ns("default")
        users = rng.sample(USERS, 3)
        for i, user in enumerate(users):
            ns = f"sandbox-{user}"
            self.add_ns(ns, {"owner": user} if i % 2 == 0 else {})
            for app in rng.sample(("demo-app", "load-test", "poc-service", "hello-world"), 2):
                c = container(
                    app,
                    f"ghcr.io/{user}/{app}:latest",
                    "500m",
                    "1Gi",
                    None,
                    None,
                    use_cpu=rng.uniform(0.5, 2.5),
                    use_mem=rng.uniform(20, 70) * MI,
                    probes=False,
                )
                w = Workload(
                    0,
                    mix(self.ckey, skey(ns), skey(app)),
                    ns,
                    app,
                    "Deployment",
                    None,
                    app,
                    "idle",
                    self.pool_for("general") or 0,
                    (Shape((c,)),),
                    {"app": app},
                    r0=rng.choice((1, 1, 2)),
                    amp=0.02,
                    period=NEVER,
                    life=30 * 86400,
                )
                self._revisions(w, rng, None)
                self.add(w)
            bare = container(
                "netshoot",
                "nicolaka/netshoot:v0.13",
                use_cpu=1.0,
                use_mem=6 * MI,
                probes=False,
                args=("sleep", "infinity"),
            )
            period = int(86400 * rng.uniform(3, 9))
            cron = CronSpec("bare", period, int(rng.random() * period), int(period * rng.uniform(0.2, 0.6)))
            w = Workload(
                0,
                mix(self.ckey, skey(user)),
                "default" if i == 0 else ns,
                f"netshoot-{user}",
                "Bare",
                None,
                "netshoot",
                "idle",
                self.pool_for("general") or 0,
                (Shape((bare,)),),
                {"run": f"netshoot-{user}"},
                cron=cron,
                period=NEVER,
            )
            self.add(w)
        rep = container(
            "report",
            "python:3.12-slim",
            "1",
            "2Gi",
            None,
            "2Gi",
            use_cpu=900.0,
            use_mem=1.1 * GI,
            probes=False,
            args=("python", "/scripts/quarterly_report.py"),
        )
        cron = CronSpec("bare", 4 * 86400, 10 * 3600, 1500)
        w = Workload(
            0,
            mix(self.ckey, skey("adhoc-report")),
            "default",
            "adhoc-report",
            "Bare",
            None,
            "report",
            "batch",
            self.pool_for("general") or 0,
            (Shape((rep,)),),
            {"run": "adhoc-report"},
            cron=cron,
            restart_policy="Never",
            period=NEVER,
        )
        self.add(w)


def _team_list(n: int) -> list[tuple[str, str]]:
    out = list(TEAMS[:n])
    for i in range(len(out), n):
        t = f"team-{i + 1:02d}"
        out.append((t, f"{t}-api {t}-worker {t}-web"))
    return out
