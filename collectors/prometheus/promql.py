"""PromQL text and query shapes: selectors with quoted matchers, and range queries cut into chunks.

Pure functions, so each builder is tested on its own (selector quoting, the extra matchers a
multi-cluster Prometheus needs, chunking under the points-per-series limit).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from capacity.matchers import parse_matchers, quote

# Prometheus refuses a range query whose result would hold more points than this per series
# ("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query
# resolution (?step=XX)").
MAX_POINTS = 11_000

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Selectors:
    """Builds series selectors, each with the extra matchers every query carries (a cluster's)."""

    extra: tuple[str, ...] = ()

    def within(self, label: str, values: Sequence[str], *, exclude: bool = False) -> Selectors:
        """Return these selectors narrowed to series whose ``label`` is one of ``values`` (with
        ``exclude``: is none of them)."""
        pattern = "|".join(re.escape(value) for value in values)
        return Selectors((*self.extra, f"{label}{'!~' if exclude else '=~'}{quote(pattern)}"))

    def __call__(self, metric: str, *matchers: str) -> str:
        if not _NAME.fullmatch(metric):
            raise ValueError(f"not a metric name: {metric!r}")
        inner = ", ".join((*matchers, *self.extra))
        return f"{metric}{{{inner}}}" if inner else metric


def equals(label: str, value: str) -> str:
    return f"{label}={quote(value)}"


def not_equals(label: str, value: str) -> str:
    return f"{label}!={quote(value)}"


def dedup(expr: str, by: Sequence[str] = (), without: Sequence[str] = ()) -> str:
    """Return ``max by (...)`` (or ``max without (...)``) of ``expr``: one series per identity.

    Several kube-state-metrics replicas or two scrape jobs expose the same series with other
    ``instance``/``job`` labels; taking the maximum per identity never double-counts them.
    """
    if by:
        return f"max by ({', '.join(by)}) ({expr})"
    return f"max without ({', '.join(without)}) ({expr})"


def points(start: datetime, end: datetime, step: timedelta) -> int:
    """Return how many points a range query over [start, end] at ``step`` returns per series."""
    if end < start:
        return 0
    return int((end - start) / step) + 1


def chunks(
    start: datetime, end: datetime, step: timedelta, *, span: timedelta, max_points: int = MAX_POINTS
) -> list[tuple[datetime, datetime]]:
    """Return the evaluation instants start, start+step, ... <= end as range-query chunks.

    Each chunk is (first instant, last instant), at most ``span`` long and at most
    ``max_points`` points; consecutive chunks do not share an instant.
    """
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    per_chunk = max(1, min(max_points, int(span / step) + 1 if span >= step else 1))
    total = points(start, end, step)
    out = []
    first = 0
    while first < total:
        last = min(total, first + per_chunk) - 1
        out.append((start + first * step, start + last * step))
        first = last + 1
    return out


__all__ = [
    "MAX_POINTS",
    "Selectors",
    "chunks",
    "dedup",
    "equals",
    "not_equals",
    "parse_matchers",
    "points",
    "quote",
]
