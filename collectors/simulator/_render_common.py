"""What every simulator renderer shares: the object type, resourceVersions, managed fields and conditions."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def resource_version(t: float, h: int) -> str:
    """A resourceVersion: grows with the time of the object's last change."""
    return str(int(t - 1_500_000_000) * 4 + (h & 3))


def fields(keys: Any) -> Obj:
    return {".": {}, **{f"f:{k}": {} for k in keys}}


def condition(kind: str, ok: bool, when: str, reason: str | None = None) -> Obj:
    c: Obj = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": when,
    }
    if reason and kind != "PodReadyToStartContainers":
        c["reason"] = reason
    return c
