"""Mergeable usage histograms with exponential buckets (the Kubernetes VPA recommender's scheme).

Bucket ``i`` covers [start(i), start(i+1)) with start(i) = first * (ratio**i - 1) / (ratio - 1):
buckets grow by 5 % from a first width of 0.01 cores, so any percentile is known to within
5 % over any window, and histograms of different samples, hours and days merge by adding
their weights. Histograms are sparse ``{bucket: weight}`` maps.

Three per (workload, container): per-replica CPU usage (weights in replica-seconds), and the
CPU and memory usage of all its replicas together (weights in seconds; memory buckets start at
1 MiB): what an autoscaler sees, and what HPA-aware right-sizing projects replicas from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CPU_FIRST_BUCKET = 0.01  # cores
MEMORY_FIRST_BUCKET = 1024.0**2  # bytes
RATIO = 1.05
MAX_BUCKET = 400  # start(400) is about 6 million cores


def bucket_of(value: float, *, first: float = CPU_FIRST_BUCKET) -> int:
    """Return the bucket index that holds ``value`` (negative values fall in bucket 0)."""
    if value <= 0:
        return 0
    index = math.floor(math.log(1 + value * (RATIO - 1) / first) / math.log(RATIO))
    return min(index, MAX_BUCKET)


def bucket_start(index: int, *, first: float = CPU_FIRST_BUCKET) -> float:
    return first * (RATIO**index - 1) / (RATIO - 1)


def merge(histograms: Iterable[Mapping[int, float]], *, scale: float = 1.0) -> dict[int, float]:
    """Return the sum of several histograms, each weight multiplied by ``scale``."""
    total: dict[int, float] = {}
    for hist in histograms:
        for index, weight in hist.items():
            total[int(index)] = total.get(int(index), 0.0) + weight * scale
    return total


def percentile(hist: Mapping[int, float], p: float, *, first: float = CPU_FIRST_BUCKET) -> float | None:
    """Return the ``p``-th percentile (0-1) as the upper edge of its bucket; None if empty.

    The upper edge, as the VPA recommender does: a recommendation errs on the generous side
    by at most one bucket (5 %).
    """
    total = sum(hist.values())
    if total <= 0:
        return None
    threshold = p * total
    running = 0.0
    for index in sorted(hist, key=int):
        running += hist[index]
        if running >= threshold:
            return bucket_start(int(index) + 1, first=first)
    return bucket_start(int(max(hist, key=int)) + 1, first=first)
