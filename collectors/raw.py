"""Reading raw API JSON defensively: any field of a decoded object may hold anything.

A real API server sends well-formed objects, but a proxy, an aggregated API, a buggy
controller or a hand-made payload may not: a null item, null ``metadata``, labels given as a
list, ``requests: "lots"``. Each of those becomes a warning naming the object, never an
exception that loses the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

Warn = Callable[[str], None]

# Kubernetes names are DNS subdomains (253) or labels (63); the store's columns hold 253.
MAX_NAME_LENGTH = 253
# What a malformed object raises when read as if it were well-formed.
MALFORMED = (AttributeError, KeyError, TypeError, ValueError, IndexError)
_EMPTY: Mapping[str, Any] = {}


def json_type(value: object) -> str:
    """Return the JSON name of a decoded value's type (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def mapping(value: object, where: str, warn: Warn) -> Mapping[str, Any]:
    """Return ``value`` if it is a JSON object, else an empty one (warning unless it is null)."""
    if isinstance(value, dict):
        return value
    if value is not None:
        warn(f"{where} is {json_type(value)}, not a map: ignored")
    return _EMPTY


def sequence(value: object, where: str, warn: Warn) -> list[Any]:
    """Return ``value`` if it is a JSON list, else an empty one (warning unless it is null)."""
    if isinstance(value, list):
        return value
    if value is not None:
        warn(f"{where} is {json_type(value)}, not a list: ignored")
    return []


def labels(meta: Mapping[str, Any], where: str, warn: Warn, key: str = "labels") -> dict[str, str]:
    """Return an object's labels (or annotations) as strings; a malformed block warns and is empty."""
    block = mapping(meta.get(key), f"{where} {key}", warn)
    if not block:
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in block.items()}


def name_of(value: object) -> str | None:
    """Return a usable Kubernetes name, or None when it is missing, not a string or too long."""
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH:
        return value
    return None


def well_formed(
    items: Iterable[Any], kind: str, warn: Warn, *, start: int = 0
) -> Iterator[Mapping[str, Any]]:
    """Yield the items that are objects with a metadata object and a name; warn about the rest.

    ``start``: the list position of the first item (pages after the first start further on).
    """
    for index, item in enumerate(items, start):
        if not isinstance(item, dict):
            warn(f"{kind} list: item {index} is {json_type(item)}, not an object: ignored")
            continue
        meta = item.get("metadata")
        if not isinstance(meta, dict):
            warn(f"{kind} list: item {index} has metadata {json_type(meta)}: ignored")
            continue
        if name_of(meta.get("name")) is None:
            namespace = name_of(meta.get("namespace"))
            where = f" in namespace {namespace}" if namespace else ""
            warn(f"{kind} list: item {index}{where} has no valid name: ignored")
            continue
        yield item


def describe(exc: BaseException) -> str:
    """Return a short reason for a malformed object, from what reading it raised."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


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
