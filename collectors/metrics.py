"""metrics.k8s.io objects (NodeMetrics, PodMetrics) → usage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from capacity.records import (
    Resources,
)
from collectors.quantity import beyond_any_node, parse_usage
from collectors.raw import name_of, sequence, well_formed


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
