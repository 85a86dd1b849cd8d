"""Capacity forecast: the trend of requested CPU and memory per cluster, and when it meets allocatable.

From the clusters report stepped by day: each day's average requested and allocatable cores
(GiB), a least-squares line through the requested ones (days weighted by the hours their
snapshots cover, so a partial first or last day counts for what it holds), read where the
cluster's data ends. The date requests reach allocatable is where that line crosses today's allocatable
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
MIN_HOURS = 48.0  # and the hours they must hold between them
HORIZON_DAYS = 3650.0  # a date further out than ten years is no date
PERIOD = "period_start"
COLUMNS = [
    "cluster", "days", "last_data", "cpu_allocatable", "cpu_requested", "cpu_requested_growth_per_week",
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
    """Return one row per cluster of the clusters report stepped by day (``daily``) over [.., ``end``).

    ``days`` counts the days with data and ``last_data`` is when the cluster's data ends (the
    line is read there, so a cluster that stopped collecting is not extrapolated to ``end``).
    A trend needs ``min_days`` days holding ``MIN_HOURS`` hours; without one, requested is the
    days' average and growth is NaN. Allocatable is the latest day's. ``*_full_on`` is a UTC date
    (``YYYY-MM-DD``), empty when requests do not grow (or not within ``HORIZON_DAYS``).
    """
    rows = []
    data = daily[daily["hours"] > 0]
    end_day = pd.Timestamp(end).timestamp() / 86400.0  # times below are in days since the epoch
    epoch = pd.Timestamp(0, tz="UTC")
    for cluster, part in data.groupby("cluster", sort=True):
        part = part.sort_values(PERIOD)
        starts = pd.to_datetime(part[PERIOD], utc=True)
        hours = part["hours"].to_numpy(dtype="float64")
        # A day's data sits at its middle, except on the cluster's first day (it started that
        # day: its hours end at the day's end) and last day (it stopped: they start at the start).
        begin = (starts - epoch).dt.total_seconds().to_numpy() / 86400.0
        first = np.minimum(np.floor(begin) + 1.0, end_day)  # where each day (or the window) ends
        middle = (begin + first) / 2.0
        middle[0] = first[0] - hours[0] / 48.0
        middle[-1] = begin[-1] + hours[-1] / 48.0
        last = begin[-1] + hours[-1] / 24.0  # where the cluster's data ends
        last_data = pd.Timestamp(last * 86400.0, unit="s", tz="UTC")
        row: dict[str, object] = {"cluster": cluster, "days": len(part), "last_data": last_data.isoformat()}
        trending = len(part) >= min_days and hours.sum() >= MIN_HOURS
        for prefix, unit, growth in (
            ("cpu", "", "growth_per_week"),
            ("memory", "_gib", "growth_gib_per_week"),
        ):
            hours_unit = "core_hours" if prefix == "cpu" else "gib_hours"
            requested = part[f"{prefix}_requested_{hours_unit}"].to_numpy(dtype="float64") / hours
            allocatable = part[f"{prefix}_allocatable_{hours_unit}"].to_numpy(dtype="float64") / hours
            latest = float(allocatable[-1])
            if trending:
                now, slope = trend(middle - last, requested, hours)
            else:
                now, slope = float((requested * hours).sum() / hours.sum()), float("nan")
            days_left = _until_full(now, 0.0 if slope != slope else slope, latest)
            if days_left > HORIZON_DAYS:
                days_left = float("nan")
            row[f"{prefix}_allocatable{unit}"] = latest
            row[f"{prefix}_requested{unit}"] = now
            row[f"{prefix}_requested_{growth}"] = slope * 7.0
            row[f"{prefix}_full_in_days"] = days_left
            row[f"{prefix}_full_on"] = (
                None
                if days_left != days_left
                else (last_data + timedelta(days=days_left)).strftime("%Y-%m-%d")
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
