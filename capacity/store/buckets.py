"""Bucket math: hours and days (UTC), the blocks that group them, and which tier serves which
part of a window.

A raw sample at ``taken_at`` stands for its snapshot's ``interval_seconds`` and belongs to the
bucket that holds ``taken_at`` (hours [h, h+1h), days [d, d+1d), UTC). Blocks are aligned runs of
hours (6) or days (4, 16, 64) summed once more, so that a long window reads a few rows per
container instead of one per hour or day (``serve``). Every bucket and block is aligned on the
Unix epoch. Plain Python, so the SQL built on it stays the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Tier = Literal["hour", "day", "h6", "d4", "d16", "d64"]
HOUR: Tier = "hour"
DAY: Tier = "day"
STEP: dict[Tier, timedelta] = {
    HOUR: timedelta(hours=1),
    DAY: timedelta(days=1),
    "h6": timedelta(hours=6),
    "d4": timedelta(days=4),
    "d16": timedelta(days=16),
    "d64": timedelta(days=64),
}
Range = tuple[datetime, datetime]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Block:
    """A tier of blocks: aligned runs of ``base`` buckets, each summed from the ``source`` tier's."""

    tier: Tier
    base: Tier  # the hours or days a block stands for
    source: Tier  # the finer tier it is rolled up from: the base, or the next smaller block


# Finest first: each block tier is rolled up from the one before it. Six-hour blocks cost a sixth
# more hourly rows and serve a window's partial days in 4 rows on average instead of 12; the day
# blocks cost a third more daily rows and serve 30 days in about 7 rows instead of 30.
BLOCKS: tuple[Block, ...] = (
    Block("h6", HOUR, HOUR),
    Block("d4", DAY, DAY),
    Block("d16", DAY, "d4"),
    Block("d64", DAY, "d16"),
)
TIERS: tuple[Tier, ...] = (HOUR, DAY, *(b.tier for b in BLOCKS))


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value.astimezone(UTC)


def floor_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the start of the hour, day or block (UTC, aligned on the epoch) that holds ``value``."""
    step = STEP[tier]
    return EPOCH + (utc(value) - EPOCH) // step * step


def ceil_bucket(value: datetime, tier: Tier) -> datetime:
    """Return the first boundary of ``tier`` (UTC) at or after ``value``."""
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


def serve(plan: WindowPlan, marks: Mapping[Tier, datetime | None]) -> dict[Tier | None, tuple[Range, ...]]:
    """Return per tier (None: raw samples) the ranges a read of ``plan`` takes from it.

    The plan's days and hours are cut into the largest aligned blocks that lie inside them and
    end by their tier's mark (``marks``: how far each tier is rolled up); what is left is read
    hour by hour and day by day. Each tier's ranges are merged: at most two per plan range.
    """
    served: dict[Tier | None, list[Range]] = {tier: [] for tier in TIERS}
    served[None] = list(plan.raw)
    for base, ranges in ((DAY, plan.days), (HOUR, plan.hours)):
        blocks = sorted(
            (b.tier for b in BLOCKS if b.base == base and marks.get(b.tier) is not None),
            key=lambda tier: STEP[tier],
            reverse=True,
        )
        for lo, hi in ranges:
            at = lo
            while at < hi:
                tier = next(
                    (
                        t
                        for t in blocks
                        if floor_bucket(at, t) == at and at + STEP[t] <= min(hi, marks[t] or at)
                    ),
                    base,
                )
                end = at + STEP[tier]
                parts = served[tier]
                if parts and parts[-1][1] == at:
                    parts[-1] = (parts[-1][0], end)
                else:
                    parts.append((at, end))
                at = end
    return {tier: tuple(ranges) for tier, ranges in served.items()}


# --- what a rollup holds: one row-level expression per column, and how columns combine ----------

Agg = Literal["sum", "max"]
