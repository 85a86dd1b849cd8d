"""Quantities ("500m", "2Gi", "123456n") to floats, with the `kubernetes` client's own parser.

Values repeat endlessly across a fleet ("100m", "128Mi"), so parsed values are cached; the
client's parser works in Decimal and is slow on its own.
"""

from __future__ import annotations

from functools import lru_cache

from kubernetes.utils.quantity import parse_quantity


@lru_cache(maxsize=1 << 16)
def _parse_text(text: str) -> float:
    value = float(parse_quantity(text))
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite quantity")
    return value


def parse(value: object) -> float:
    """Return the quantity as a float in base units (cores, bytes, devices); ValueError if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")
    return _parse_text(value.strip())
