"""Quantities ("500m", "2Gi", "123456n") to floats, with the `kubernetes` client's own parser.

Values repeat endlessly across a fleet ("100m", "128Mi"), so parsed values are cached; the
client's parser works in Decimal and is slow on its own.
"""

from __future__ import annotations

import math
from functools import lru_cache

from kubernetes.utils.quantity import parse_quantity


def _finite(value: float, original: object) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{original!r} is not a finite quantity")
    return value


@lru_cache(maxsize=1 << 16)
def _parse_text(text: str) -> float:
    return _finite(float(parse_quantity(text)), text)


def parse(value: object) -> float:
    """Return the quantity as a float in base units (cores, bytes, devices); ValueError if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return _finite(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")
    return _parse_text(value.strip())
