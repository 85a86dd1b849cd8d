"""Bucket math: hours and days (UTC), and which tier serves which part of a window.

A raw sample at ``taken_at`` stands for its snapshot's ``interval_seconds`` and belongs to the
bucket that holds ``taken_at`` (hours [h, h+1h), days [d, d+1d), UTC). Plain Python, so the SQL
built on it stays the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Tier = Literal["hour", "day"]
HOUR: Tier = "hour"
DAY: Tier = "day"
STEP = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
Range = tuple[datetime, datetime]


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value.astimezone(UTC)


def floor_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the start of the hour or day (UTC) that holds ``value``."""
    value = utc(value).replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if tier == DAY else value


def ceil_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the first hour or day boundary (UTC) at or after ``value``."""
    floor = floor_bucket(value, tier)
    return floor if floor == utc(value) else floor + STEP[tier]


def _subtract(ranges: Iterable[Range], cut: Iterable[Range]) -> list[Range]:
    """Return ``ranges`` minus ``cut`` as sorted half-open ranges."""
    result = sorted(r for r in ranges if r[0] < r[1])
    for lo, hi in cut:
        pieces: list[Range] = []
        for a, b in result:
            if hi <= a or b <= lo:
                pieces.append((a, b))
                continue
            if a < lo:
                pieces.append((a, lo))
            if hi < b:
                pieces.append((hi, b))
        result = pieces
    return result


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Which tier serves which part of a window, for one cluster; the parts partition the window."""

    days: tuple[Range, ...]
    hours: tuple[Range, ...]
    raw: tuple[Range, ...]


def plan_window(
    start: datetime, end: datetime, *, hour_until: datetime | None, day_until: datetime | None
) -> WindowPlan:
    """Return the daily, hourly and raw ranges that together cover [start, end) exactly once.

    Whole days before ``day_until`` come from daily rollups, whole hours before ``hour_until``
    not in those days from hourly rollups, everything else from raw samples.
    """
    start, end = utc(start), utc(end)
    if end <= start:
        return WindowPlan((), (), ())
    days: list[Range] = []
    if day_until is not None:
        lo, hi = ceil_bucket(start, DAY), min(floor_bucket(end, DAY), floor_bucket(day_until, DAY))
        if lo < hi:
            days.append((lo, hi))
    hours: list[Range] = []
    if hour_until is not None:
        lo, hi = ceil_bucket(start, HOUR), min(floor_bucket(end, HOUR), floor_bucket(hour_until, HOUR))
        hours = _subtract([(lo, hi)], days)
    raw = _subtract([(start, end)], [*days, *hours])
    return WindowPlan(tuple(days), tuple(hours), tuple(raw))


# --- what a rollup holds: one row-level expression per column, and how columns combine ----------

Agg = Literal["sum", "max"]
