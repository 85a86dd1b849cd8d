"""What one pod reserves: container requests and limits, effective pod request, restarts, OOM kills.

Effective pod request = what the scheduler reserves (Kubernetes' resource helpers):
max(sum of app containers and restartable init (sidecar) containers,
    for each regular init container: its request plus the sidecars started before it)
plus the pod overhead. Pod-level resources (``spec.resources``), where set, replace the
container sum for the resources they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capacity.records import ZERO, Resources
from collectors.gpu_units import gpu_units
from collectors.quantity import beyond_any_node, parse
from collectors.raw import Warn, mapping, name_of, sequence


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    request: Resources
    cpu_limit: float | None
    memory_limit: float | None
    sidecar: bool  # restartable init container: runs alongside the app containers


def _gpu(resources: Mapping[str, Any], where: str, warn: Warn) -> float:
    return gpu_units(resources, lambda raw, key: _quantity(raw, where, key, warn))


def _quantity(raw: Any, where: str, what: str, warn: Warn) -> float:
    try:
        value = parse(raw)
    except ValueError:
        warn(f"{where}: malformed {what} {raw!r} ignored")
        return 0.0
    if value < 0:
        warn(f"{where}: negative {what} {raw!r} ignored")
        return 0.0
    bound = beyond_any_node(value, what)
    if bound is not None:
        warn(f"{where}: {what} {raw!r} is beyond any node (over {bound}): ignored")
        return 0.0
    return value


def resources_of(block: object, where: str, warn: Warn) -> Resources:
    """Return cpu, memory and GPUs of a requests/limits/capacity block; malformed values warn, count 0."""
    block = mapping(block, where, warn)
    if not block:
        return ZERO
    cpu = block.get("cpu")
    memory = block.get("memory")
    return Resources(
        0.0 if cpu is None else _quantity(cpu, where, "cpu", warn),
        0.0 if memory is None else _quantity(memory, where, "memory", warn),
        _gpu(block, where, warn),
    )


def _limit(block: Mapping[str, Any], key: str, where: str, warn: Warn | None) -> float | None:
    """Return a limit, or None when unset or malformed (warns unless the request already did)."""
    raw = block.get(key)
    if raw is None:
        return None
    try:
        value = parse(raw)
    except ValueError:
        value = -1.0
    if value < 0 or beyond_any_node(value, key) is not None:
        if warn is not None:
            warn(f"{where}: malformed {key} limit {raw!r} ignored")
        return None
    return value


def container_spec(container: Mapping[str, Any], where: str, warn: Warn, *, sidecar: bool) -> ContainerSpec:
    """Return the container's requests and limits in base units."""
    name = name_of(container.get("name")) or "?"
    here = f"{where} container {name}"
    resources = mapping(container.get("resources"), f"{here} resources", warn)
    requests = mapping(resources.get("requests"), f"{here} requests", warn)
    limits = mapping(resources.get("limits"), f"{here} limits", warn)
    # The API server defaults a missing request to the limit; old or hand-made payloads
    # may not have been through admission, so do the same here.
    merged = {**limits, **requests} if limits else requests
    return ContainerSpec(
        name=name,
        request=resources_of(merged, here, warn),
        # A limit that also filled in the missing request was already reported there.
        cpu_limit=_limit(limits, "cpu", here, warn if "cpu" in requests else None),
        memory_limit=_limit(limits, "memory", here, warn if "memory" in requests else None),
        sidecar=sidecar,
    )


@dataclass(frozen=True, slots=True)
class PodSpec:
    running: list[ContainerSpec]  # app containers and sidecars: what runs in steady state
    effective: Resources  # what the scheduler reserves for the pod


def pod_spec(spec: Mapping[str, Any], where: str, warn: Warn) -> PodSpec:
    """Return the pod's running containers and its effective request."""
    running = [
        container_spec(c, where, warn, sidecar=False)
        for c in sequence(spec.get("containers"), f"{where} containers", warn)
        if isinstance(c, dict)
    ]
    app_sum = ZERO
    for c in running:
        app_sum = app_sum + c.request
    sidecars_so_far = ZERO
    init_peak = ZERO
    for init in sequence(spec.get("initContainers"), f"{where} initContainers", warn):
        if not isinstance(init, dict):
            continue
        if init.get("restartPolicy") == "Always":
            sidecar = container_spec(init, where, warn, sidecar=True)
            running.append(sidecar)
            sidecars_so_far = sidecars_so_far + sidecar.request
            # A sidecar's own start also needs the sidecars before it.
            init_peak = init_peak.max(sidecars_so_far)
        else:
            regular = container_spec(init, where, warn, sidecar=False)
            init_peak = init_peak.max(regular.request + sidecars_so_far)
    effective = (app_sum + sidecars_so_far).max(init_peak)
    pod_level = mapping(
        mapping(spec.get("resources"), f"{where} resources", warn).get("requests"),
        f"{where} pod-level requests",
        warn,
    )
    if pod_level:
        level = resources_of(pod_level, f"{where} pod-level resources", warn)
        effective = Resources(
            level.cpu if "cpu" in pod_level else effective.cpu,
            level.memory if "memory" in pod_level else effective.memory,
            effective.gpu,
        )
    overhead = spec.get("overhead")
    if overhead:
        effective = effective + resources_of(overhead, f"{where} overhead", warn)
    return PodSpec(running=running, effective=effective)


@dataclass(frozen=True, slots=True)
class ContainerState:
    restarts: int
    oom_killed: bool


def _terminated_reason(state: object) -> object:
    if not isinstance(state, dict):
        return None
    terminated = state.get("terminated")
    return terminated.get("reason") if isinstance(terminated, dict) else None


def container_states(status: Mapping[str, Any]) -> dict[str, ContainerState]:
    """Return restarts and OOM-kill evidence per container name (app containers and sidecars)."""
    states: dict[str, ContainerState] = {}
    for key in ("containerStatuses", "initContainerStatuses"):
        entries = status.get(key)
        for cs in entries if isinstance(entries, list) else ():
            if not isinstance(cs, dict):
                continue
            last = _terminated_reason(cs.get("lastState"))
            now = _terminated_reason(cs.get("state"))
            restarts = cs.get("restartCount") or 0
            states[str(cs.get("name", "?"))] = ContainerState(
                restarts=restarts if isinstance(restarts, int) and not isinstance(restarts, bool) else 0,
                oom_killed="OOMKilled" in (last, now),
            )
    return states
