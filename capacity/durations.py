"""Durations: one grammar for CLI flags, config values and dashboard URLs.

A duration is a number and a unit: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w``
weeks (``90s``, ``5m``, ``1.5h``, ``14d``, ``2w``). "m" is always minutes. A bare number takes
the unit its setting is measured in: seconds for intervals (``--every 300``,
``collection.interval_seconds: "300"``), days for windows (``--window 30``, ``?window=30``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Literal

MAX_DAYS = 36_500  # a hundred years: any window, period or retention beyond it is a typo
MAX_DURATION_SECONDS = MAX_DAYS * 86400

Unit = Literal["s", "m", "h", "d", "w"]
UNIT_SECONDS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,9})?)\s*([smhdw]?)\s*$")


def parse_duration(text: str, *, bare: Unit = "s") -> int:
    """Return whole seconds for ``text`` (a bare number is in ``bare`` units); ValueError names it."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 14d, 2w)")
    seconds = round(float(match.group(1)) * UNIT_SECONDS[match.group(2) or bare])
    if seconds <= 0:
        raise ValueError(f"duration must be at least a second: {text!r}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration too long: {text!r} (at most {MAX_DAYS}d)")
    return seconds


def duration_days(text: str) -> int:
    """Return a window's length in whole days, rounded up (a bare number is days): ``48h`` is 2."""
    return math.ceil(parse_duration(text, bare="d") / 86400)


def parse_instant(text: str, flag: str) -> datetime:
    """Return a UTC date or timestamp (``2026-11-01``, ``2026-11-01T06:00``, ``...Z``, an offset);
    raises ValueError naming ``flag``."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{flag} {text!r} is not a date or timestamp (e.g. 2026-11-01 or 2026-11-01T06:00)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
