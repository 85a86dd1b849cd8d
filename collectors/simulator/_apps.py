"""The containers of the teams' services: resource profiles, roles, app containers, resizes and the
linkerd sidecar, drawn from the cluster's seeded random streams."""

from __future__ import annotations

import random

from collectors.simulator._catalog import (
    COMPUTE,
    CPU_SIZES,
    GPU_SERVICES,
    MEM_SIZES,
    MEMORY,
    PROFILES,
    REGISTRY,
    SPOT,
)
from collectors.simulator._model import ContainerT, container, scale_cpu, scale_mem
from collectors.simulator._util import MI, parse_bytes, parse_cpu_m


def pick_profile(rng: random.Random) -> str:
    total = sum(w for _, w in PROFILES)
    x = rng.random() * total
    for name, w in PROFILES:
        x -= w
        if x < 0:
            return name
    return "wellsized"


def role_of(svc: str, rng: random.Random) -> str:
    if svc in GPU_SERVICES:
        return "gpu"
    if svc in COMPUTE:
        return "compute"
    if svc in MEMORY or svc.endswith("-store"):
        return "memory"
    if svc in SPOT or (svc.endswith("-worker") and rng.random() < 0.5):
        return "spot"
    return "spot" if rng.random() < 0.12 else "general"


def app_container(rng: random.Random, svc: str, team: str, role: str, profile: str) -> ContainerT:
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
        cpu_lim = cpu if x < 0.2 else scale_cpu(cpu, rng.choice((2.0, 2.0, 4.0)))
    y = rng.random()
    mem_lim: str | None
    if profile == "oom":
        mem_lim = mem if y < 0.6 else scale_mem(mem, 1.25)
    elif y < 0.12 and profile != "underprovisioned":
        mem_lim = None
    else:
        mem_lim = mem if y < 0.45 else scale_mem(mem, rng.choice((1.5, 2.0, 2.0)))
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
        f"{REGISTRY}/{team}/{svc}",
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


def resized(c: ContainerT, profile: str, rng: random.Random) -> ContainerT:
    """The same container after a rollout that changed its requests."""
    if profile == "oom":  # the team raised memory after the OOM kills: they stop
        mem = scale_mem(c.requests["memory"], 2.0)
        lim = scale_mem(c.limits["memory"], 2.0)
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
    cpu = scale_cpu(c.requests.get("cpu", "100m"), f)
    mem = scale_mem(c.requests.get("memory", "128Mi"), max(f, 0.5))
    cpu_lim = scale_cpu(c.limits["cpu"], f) if "cpu" in c.limits else None
    mem_lim = scale_mem(c.limits["memory"], max(f, 0.5)) if "memory" in c.limits else None
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


def linkerd() -> tuple[ContainerT, ContainerT]:
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
