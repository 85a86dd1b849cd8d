"""Cluster add-ons (DaemonSets, static pods, system Deployments) and the calibration of a cluster."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from collectors.simulator._generator import Generator
from collectors.simulator._model import (
    ContainerT,
    Pool,
    Shape,
    Workload,
    container,
)
from collectors.simulator._util import GI, mix, parse_bytes, skey

NODE_CRITICAL = ("system-node-critical", 2000001000)
CLUSTER_CRITICAL = ("system-cluster-critical", 2000000000)
_TOLERATE_ALL: list[dict[str, Any]] = [{"operator": "Exists"}]


def _sys(
    gen: Generator,
    ns: str,
    name: str,
    kind: str,
    conts: list[ContainerT],
    *,
    init: tuple[ContainerT, ...] = (),
    r0: float = 1,
    pools: tuple[int, ...] | None = None,
    priority: tuple[str, int] | None = None,
    host_network: bool = False,
    labels: dict[str, str] | None = None,
    hpa: bool = False,
    profile: str = "system",
) -> Workload:
    gen.add_ns(ns)
    key = mix(gen.ckey, skey(ns), skey(name))
    per_node = kind in ("DaemonSet", "Static")
    pool = -1 if per_node else (gen.pool_for("system") or 0)
    w = Workload(
        0,
        key,
        ns,
        name,
        kind,
        None,
        name,
        profile,
        pool,
        (Shape(tuple(conts), init),),
        labels or {"app.kubernetes.io/name": name},
        r0=r0,
        hpa=(1, 1) if hpa else None,
        amp=0.3,
        dip=0.1,
        period=int(86400 * (20 + key % 40)),
        life=30 * 86400,
        priority=priority[1] if priority else 0,
        priority_class=priority[0] if priority else None,
        host_network=host_network,
        service_account=name,
        tolerations=list(_TOLERATE_ALL) if per_node else [],
        history=10,
    )
    w.anchor = gen.start - w.period * (3 + key % 10) - key % w.period
    w.image_tag0 = 0
    w.ds_pools = pools if pools is not None else tuple(p.idx for p in gen.pools)
    gen.add(w)
    return w


_ADDONS = Path(__file__).with_name("data") / "addons.yaml"
_PRIORITIES = {"node-critical": NODE_CRITICAL, "cluster-critical": CLUSTER_CRITICAL}
_CONTAINER_QUANTITIES = ("cpu", "mem", "cpu_lim", "mem_lim")


@cache
def addons() -> tuple[dict[str, Any], ...]:
    """The add-ons of ``data/addons.yaml``, in order (read once)."""
    loaded = yaml.safe_load(_ADDONS.read_text())
    return tuple(loaded)


def _conditions(gen: Generator) -> set[str | None]:
    """Return the ``when`` conditions that hold for this cluster (None: every cluster)."""
    aws = gen.tpl.provider == "aws"
    held: dict[str | None, bool] = {
        None: True,
        "aws": aws,
        "not-aws": not aws,
        "karpenter": aws and gen.tpl.autoscaler == "karpenter",
        "cluster-autoscaler": aws and gen.tpl.autoscaler != "karpenter",
        "gpu": any(p.gpu for p in gen.pools),
        "linkerd": any(ns.annotations.get("linkerd.io/inject") for ns in gen.namespaces.values()),
        "rollouts": any(w.kind == "Rollout" for w in gen.workloads),
    }
    return {when for when, holds in held.items() if holds}


def _container(spec: dict[str, Any]) -> ContainerT:
    use_mem = spec.get("use_mem", 0.0)
    extra: dict[str, Any] = {}
    if "probes" in spec:
        extra["probes"] = bool(spec["probes"])
    if "ports" in spec:
        extra["ports"] = tuple(spec["ports"].items())
    return container(
        spec["name"],
        spec["image"],
        *(spec.get(q) for q in _CONTAINER_QUANTITIES),
        use_cpu=spec.get("use_cpu", 0.0),
        use_mem=parse_bytes(use_mem) if isinstance(use_mem, str) else use_mem,
        **extra,
    )


def build_system(gen: Generator) -> None:
    """The add-ons every real cluster of this provider runs (``data/addons.yaml``)."""
    gpu_pools = tuple(p.idx for p in gen.pools if p.gpu)
    # decided before any add-on is added: they add no Rollout and no linkerd-injected namespace
    held = _conditions(gen)
    for addon in addons():
        if addon.get("when") not in held:
            continue
        w = _sys(
            gen,
            addon["namespace"],
            addon["name"],
            addon["kind"],
            [_container(c) for c in addon["containers"]],
            init=tuple(_container(c) for c in addon.get("init", ())),
            r0=addon.get("r0", 1),
            pools=gpu_pools if addon.get("pools") == "gpu" else None,
            priority=_PRIORITIES[addon["priority"]] if "priority" in addon else None,
            host_network=addon.get("host_network", False),
            labels=addon.get("labels"),
            hpa=addon.get("hpa", False),
            profile=addon.get("profile", "system"),
        )
        if "pool" in addon:
            w.pool = gen.pool_for(addon["pool"]) or w.pool


# --- calibration ---------------------------------------------------------------------------------

EFF = 0.85  # the cluster autoscaler keeps nodes about this full (by requests) before adding one


def pool_capacity(gen_pools: list[Pool], workloads: list[Workload]) -> None:
    """What the per-node pods reserve on each pool, and what is left per node on average."""
    for p in gen_pools:
        p.per_node = [w for w in workloads if w.kind in ("DaemonSet", "Static") and p.idx in w.ds_pools]
        shapes = [w.shapes[0] for w in p.per_node]
        p.ds_cpu_m = sum(s.eff_cpu_m for s in shapes)
        p.ds_mem_b = sum(s.eff_mem_b for s in shapes)
        p.ds_pods = len(shapes)
        allocs = [p.alloc(t) for t in p.types]
        n = len(allocs)
        p.avail_cpu_m = sum(a[0] for a in allocs) / n - p.ds_cpu_m
        p.avail_mem_b = sum(a[1] for a in allocs) / n - p.ds_mem_b
        p.avail_gpu = sum(a[2] for a in allocs) / n
        p.avail_pods = sum(a[3] for a in allocs) / n - p.ds_pods


def nodes_needed(
    p: Pool,
    cpu_m: float,
    mem_b: float,
    gpu: float,
    pods: float,
    cpu_sq: float = 0.0,
    mem_sq: float = 0.0,
    eff: float = EFF,
) -> float:
    """Nodes of pool ``p`` that hold this demand; ``*_sq`` (sums of squared pod sizes) let large pods
    count for the space they strand at the end of each node."""
    big_cpu = cpu_sq / cpu_m if cpu_m else 0.0
    big_mem = mem_sq / mem_b if mem_b else 0.0
    usable_cpu = max(p.avail_cpu_m * eff - 0.5 * big_cpu, 0.25 * p.avail_cpu_m)
    usable_mem = max(p.avail_mem_b * eff - 0.5 * big_mem, 0.25 * p.avail_mem_b)
    need = max(cpu_m / usable_cpu, mem_b / usable_mem, pods / (p.avail_pods * 0.92))
    if p.gpu and p.avail_gpu:
        need = max(need, gpu / p.avail_gpu)
    return need


def _cron_concurrency(w: Workload) -> float:
    assert w.cron is not None
    return w.cron.parallelism * min(1.0, w.cron.duration / w.cron.period)


def nominal_demand(gen: Generator) -> list[list[float]]:
    return nominal_demand_of(gen.pools, gen.workloads)


def nominal_demand_of(pools: list[Pool], workloads: list[Workload]) -> list[list[float]]:
    """Per pool: cpu, memory, gpu and pod count requested at nominal load."""
    dem = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0] for _ in pools]
    for w in workloads:
        if w.pool < 0:
            continue
        s = w.shapes[0]
        if w.replicated:
            n = w.r0
        elif w.kind == "CronJob":
            n = _cron_concurrency(w)
        else:
            continue
        d = dem[w.pool]
        d[0] += n * s.eff_cpu_m
        d[1] += n * s.eff_mem_b
        d[2] += n * s.eff_gpu
        d[3] += n
        d[4] += n * s.eff_cpu_m**2
        d[5] += n * s.eff_mem_b**2
    return dem


def calibrate(gen: Generator, target_pods: int, total_nodes: int | None = None) -> None:
    """Scale team replica counts so the cluster starts near ``target_pods`` pods, then size pools."""
    pool_capacity(gen.pools, gen.workloads)
    scalable = [
        w
        for w in gen.workloads
        if w.replicated and w.team is not None and w.profile != "idle" and w.kind != "StatefulSet"
    ]
    scalable_idx = {w.idx for w in scalable}
    for _ in range(4):
        dem = nominal_demand(gen)
        nodes = [max(p.min_nodes, math.ceil(nodes_needed(p, *dem[p.idx]))) for p in gen.pools]
        ds_pods = float(sum(n * p.ds_pods for n, p in zip(nodes, gen.pools, strict=True)))
        if total_nodes:
            ds_pods = total_nodes * sum(p.ds_pods for p in gen.pools) / len(gen.pools)
        fixed = sum(w.r0 for w in gen.workloads if w.replicated and w.idx not in scalable_idx)
        fixed += sum(
            _cron_concurrency(w) + w.cron.keep_succeeded * w.cron.parallelism
            for w in gen.workloads
            if w.cron is not None and w.kind == "CronJob"
        )
        have = sum(w.r0 for w in scalable)
        if have <= 0:
            break
        factor = max(0.05, min(50.0, (target_pods - ds_pods - fixed) / have))
        if abs(factor - 1) < 0.01:
            break
        for w in scalable:
            w.r0 = max(1.0, w.r0 * factor)
    # coredns follows the cluster size, as cluster-proportional-autoscaler makes it
    dem = nominal_demand(gen)
    total_nodes = sum(max(p.min_nodes, math.ceil(nodes_needed(p, *dem[p.idx]))) for p in gen.pools)
    for w in gen.workloads:
        if w.name in ("coredns", "kube-dns"):
            w.r0 = max(2, math.ceil(total_nodes / 16))
        if w.hpa is not None:
            lo = max(1, math.floor(w.r0 * 0.45))
            w.hpa = (lo, max(lo + 1, math.ceil(w.r0 * 2.2)))
    dem = nominal_demand(gen)
    for p in gen.pools:
        n_nom = nodes_needed(p, *dem[p.idx])
        p.min_nodes = max(p.tpl.min_nodes, math.floor(n_nom * 0.35))
        cap = math.floor(n_nom * p.tpl.headroom) if p.gpu else math.ceil(n_nom * p.tpl.headroom)
        p.max_nodes = max(p.min_nodes + 1, cap)
    _size_quotas(gen)


def _nice(x: float, unit: float) -> int:
    return max(1, math.ceil(x / unit))


def _size_quotas(gen: Generator) -> None:
    for ns in gen.namespaces.values():
        if ns.quota is None:
            continue
        ws = [w for w in gen.workloads if w.namespace == ns.name and (w.replicated or w.kind == "CronJob")]
        cpu = sum(
            w.shapes[-1].eff_cpu_m * (w.r0 * 2.2 if w.replicated else w.cron.parallelism * 4 if w.cron else 1)
            for w in ws
        )
        mem = sum(w.shapes[-1].eff_mem_b * (w.r0 * 2.2 if w.replicated else 4) for w in ws)
        pods = sum(w.r0 * 2.2 if w.replicated else 4 for w in ws)
        hard = {
            "requests.cpu": str(_nice(cpu * 1.3 / 1000, 1)),
            "requests.memory": f"{_nice(mem * 1.3 / GI, 1)}Gi",
            "pods": str(_nice(pods * 1.3, 10) * 10),
        }
        lims = [w.shapes[-1].lim_mem_b for w in ws]
        if lims and all(lims):
            lim = sum(w.shapes[-1].lim_mem_b * (w.r0 * 2.2 if w.replicated else 4) for w in ws)
            hard["limits.memory"] = f"{_nice(lim * 1.3 / GI, 1)}Gi"
        ns.quota = hard
