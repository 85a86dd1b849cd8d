"""Quantities ("500m", "2Gi", "123456n") to floats, with the `kubernetes` client's own parser.

Spec quantities repeat endlessly across a fleet ("100m", "128Mi"), so they are parsed once
and cached; the client's parser works in Decimal and is slow on its own. Usage from
metrics.k8s.io is nearly always unique ("123456789n", "52364Ki") and would only flood a
cache, so ``parse_usage`` converts those two exact integer forms directly (an exact integer
divided or multiplied by a power of the unit, which rounds exactly as the Decimal path does)
and hands anything else to the client's parser.
"""

from __future__ import annotations

import math
from functools import lru_cache

from kubernetes.utils.quantity import parse_quantity

# Beyond what any node holds (the largest machines today: under 2,000 vCPUs, 32 TiB, 16 GPUs):
# a quantity over these is malformed, not a giant workload. Unchecked, one such request made a
# team's cost 3.8e28 and broke teams + idle = the bill.
MAX_CPU_CORES = 16_384.0
MAX_MEMORY_BYTES = float(2**48)  # 256 TiB
MAX_DEVICES = 1_024.0
_BOUNDS = {"cpu": (MAX_CPU_CORES, "16384 cores"), "memory": (MAX_MEMORY_BYTES, "256 TiB")}


def beyond_any_node(value: float, resource: str) -> str | None:
    """Return the bound a ``resource`` quantity exceeds (as text), or None when it is plausible."""
    bound, text = _BOUNDS.get(resource, (MAX_DEVICES, "1024 devices"))
    return text if value > bound else None


def _finite(value: float, original: object) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{original!r} is not a finite quantity")
    return value


def _parse_uncached(text: str) -> float:
    return _finite(float(parse_quantity(text)), text)


_parse_text = lru_cache(maxsize=1 << 14)(_parse_uncached)


def _check(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity")


def parse(value: object) -> float:
    """Return the quantity as a float in base units (cores, bytes, devices); ValueError if malformed."""
    _check(value)
    if isinstance(value, int | float):
        return _finite(float(value), value)
    assert isinstance(value, str)
    return _parse_text(value.strip())


def parse_usage(value: object) -> float:
    """Return a metrics.k8s.io usage quantity (nanocores, Ki, ...) as a float; ValueError if malformed."""
    _check(value)
    if isinstance(value, int | float):
        return _finite(float(value), value)
    assert isinstance(value, str)
    if value.endswith("n"):
        digits = value[:-1]
        if digits.isascii() and digits.isdigit():
            return int(digits) / 1e9
    elif value.endswith("Ki"):
        digits = value[:-2]
        if digits.isascii() and digits.isdigit():
            return float(int(digits) * 1024)
    value_f = _parse_uncached(value.strip())
    if value_f < 0:
        raise ValueError(f"{value!r} is negative")
    return value_f
