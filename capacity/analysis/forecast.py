"""Capacity forecast: the trend of requested CPU and memory per cluster, and when it meets allocatable.

From the clusters report stepped by day: each day's average requested and allocatable cores
(GiB), a least-squares line through the requested ones (days weighted by the hours their
snapshots cover, so a partial first or last day counts for what it holds), read at the end of
the window. The date requests reach allocatable is where that line crosses today's allocatable
(the latest day's): "now" when requests already exceed it, none when they do not grow. A
straight line over a few weeks is a trend, not a plan: batch peaks, launches and autoscaled
node pools are not in it.

Pure functions: frames in, frames out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

MIN_DAYS = 3  # days with data a trend needs
PERIOD = "period_start"
COLUMNS = [
    "cluster", "days", "cpu_allocatable", "cpu_requested", "cpu_requested_growth_per_week",
    "cpu_full_in_days", "cpu_full_on", "memory_allocatable_gib", "memory_requested_gib",
    "memory_requested_growth_gib_per_week", "memory_full_in_days", "memory_full_on",
]  # fmt: skip


def trend(days: np.ndarray, values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Return (value at day 0, change per day) of the weighted least-squares line through the points."""
    w = weights / weights.sum()
    mean_day, mean_value = float((w * days).sum()), float((w * values).sum())
    spread = float((w * (days - mean_day) ** 2).sum())
    slope = float((w * (days - mean_day) * (values - mean_value)).sum()) / spread if spread > 0 else 0.0
    if abs(slope) <= 1e-9 * max(abs(mean_value), 1.0):
        slope = 0.0  # flat, up to rounding: no trend
    return mean_value - slope * mean_day, slope


def _until_full(requested: float, slope: float, allocatable: float) -> float:
    """Days from the end of the window until requests reach allocatable at the trend (NaN: never)."""
    if requested >= allocatable:
        return 0.0
    if slope <= 0:
        return float("nan")
    return (allocatable - requested) / slope


def forecast(daily: pd.DataFrame, end: datetime, *, min_days: int = MIN_DAYS) -> pd.DataFrame:
    """Return one row per cluster of the clusters report stepped by day (``daily``), ending at ``end``.

    ``days`` counts the days with data; with fewer than ``min_days`` the growth and dates are
    NaN. Requested values are the trend line's at ``end``; allocatable is the latest day's.
    ``*_full_on`` is a UTC date (``YYYY-MM-DD``), empty when requests do not grow.
    """
    rows = []
    data = daily[daily["hours"] > 0]
    for cluster, part in data.groupby("cluster", sort=True):
        part = part.sort_values(PERIOD)
        starts = pd.to_datetime(part[PERIOD], utc=True)
        hours = part["hours"].to_numpy(dtype="float64")
        # each day's midpoint, in days before the end (negative)
        middle = (starts - pd.Timestamp(end)).dt.total_seconds().to_numpy() / 86400.0 + hours / 48.0
        row: dict[str, object] = {"cluster": cluster, "days": len(part)}
        for prefix, unit, growth in (
            ("cpu", "", "growth_per_week"),
            ("memory", "_gib", "growth_gib_per_week"),
        ):
            hours_unit = "core_hours" if prefix == "cpu" else "gib_hours"
            requested = part[f"{prefix}_requested_{hours_unit}"].to_numpy(dtype="float64") / hours
            allocatable = part[f"{prefix}_allocatable_{hours_unit}"].to_numpy(dtype="float64") / hours
            latest = float(allocatable[-1])
            if len(part) >= min_days:
                now, slope = trend(middle, requested, hours)
                days_left = _until_full(now, slope, latest)
            else:
                now, slope, days_left = float(requested[-1]), float("nan"), float("nan")
            row[f"{prefix}_allocatable{unit}"] = latest
            row[f"{prefix}_requested{unit}"] = now
            row[f"{prefix}_requested_{growth}"] = slope * 7.0
            row[f"{prefix}_full_in_days"] = days_left
            row[f"{prefix}_full_on"] = (
                "" if days_left != days_left else (end + timedelta(days=days_left)).strftime("%Y-%m-%d")
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
