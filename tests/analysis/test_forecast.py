"""Capacity forecast: the trend line on hand-built daily frames, and the report and CLI over a store."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.analysis.forecast import COLUMNS, forecast, trend
from capacity.cli import main
from capacity.config import Config
from capacity.errors import CapacityError
from capacity.reports import ReportRequest, build_report
from capacity.store.engine import open_store
from tests.conftest import Fleet

END = datetime(2026, 11, 20, tzinfo=UTC)
GIB = 1024.0**3


def daily(
    requested: list[float], allocatable: float = 100.0, *, hours: list[float] | None = None
) -> pd.DataFrame:
    """Clusters report stepped by day ending at END: ``requested`` cores (and GiB) per day."""
    n = len(requested)
    hours = hours or [24.0] * n
    starts = [(END - timedelta(days=n - i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(n)]
    return pd.DataFrame(
        {
            "period_start": starts,
            "cluster": "prod",
            "hours": hours,
            "cpu_requested_core_hours": [r * h for r, h in zip(requested, hours, strict=True)],
            "cpu_allocatable_core_hours": [allocatable * h for h in hours],
            "memory_requested_gib_hours": [2 * r * h for r, h in zip(requested, hours, strict=True)],
            "memory_allocatable_gib_hours": [2 * allocatable * h for h in hours],
        }
    )


def test_trend_is_the_weighted_least_squares_line() -> None:
    days = np.array([-3.0, -2.0, -1.0])
    assert trend(days, np.array([7.0, 8.0, 9.0]), np.ones(3)) == pytest.approx((10.0, 1.0))
    # a day that holds an hour counts for an hour: the line follows the full days
    now, slope = trend(
        np.array([-3.0, -2.0, -1.0, -0.5]), np.array([7.0, 8.0, 9.0, 50.0]), np.array([24, 24, 24, 1.0])
    )
    assert slope < 3.0 and now < 15.0
    assert trend(days, np.array([5.0, 5.0, 5.0]), np.ones(3)) == (5.0, 0.0)


def test_linear_growth_reaches_allocatable_on_its_date() -> None:
    # +2 cores a day, from 60: the line reads 80 at the end, 100 in 10 days
    row = forecast(daily([60 + 2 * i + 1 for i in range(10)]), END).iloc[0]
    assert list(forecast(daily([1.0] * 5), END).columns) == COLUMNS
    assert row["days"] == 10
    assert row["cpu_requested"] == pytest.approx(80.0)
    assert row["cpu_requested_growth_per_week"] == pytest.approx(14.0)
    assert row["cpu_full_in_days"] == pytest.approx(10.0)
    assert row["cpu_full_on"] == "2026-11-30"
    assert row["memory_requested_gib"] == pytest.approx(160.0)  # twice the cores, twice the allocatable
    assert row["memory_full_in_days"] == pytest.approx(10.0)


def test_flat_shrinking_full_and_short_histories() -> None:
    flat = forecast(daily([50.0] * 7), END).iloc[0]
    assert flat["cpu_requested_growth_per_week"] == 0.0
    assert math.isnan(flat["cpu_full_in_days"]) and flat["cpu_full_on"] is None
    shrinking = forecast(daily([70.0 - i for i in range(7)]), END).iloc[0]
    assert shrinking["cpu_requested_growth_per_week"] < 0 and shrinking["cpu_full_on"] is None
    full = forecast(daily([110.0, 111.0, 112.0]), END).iloc[0]
    assert full["cpu_full_in_days"] == 0.0 and full["cpu_full_on"] == "2026-11-20"
    short = forecast(daily([10.0, 20.0]), END).iloc[0]  # two days: no trend yet, their average
    assert math.isnan(short["cpu_requested_growth_per_week"]) and short["cpu_full_on"] is None
    assert short["cpu_requested"] == 15.0
    over = forecast(daily([120.0, 130.0]), END).iloc[0]  # no trend, but already over allocatable
    assert over["cpu_full_in_days"] == 0.0 and over["cpu_full_on"] == "2026-11-20"
    thin = forecast(daily([10.0, 20.0, 30.0], hours=[1.0, 24.0, 1.0]), END).iloc[0]
    assert math.isnan(thin["cpu_requested_growth_per_week"])  # three dates, 26 hours: too little
    empty_days = daily([60.0, 0.0, 62.0, 64.0], hours=[24.0, 0.0, 24.0, 24.0])
    assert forecast(empty_days, END).iloc[0]["days"] == 3  # a day without snapshots is no data


def test_partial_first_and_last_days_sit_where_their_hours_are() -> None:
    """A cluster that started at 20:00 and whose data ends at 06:00: exact growth, exact slope."""

    def cores(day: float) -> float:  # +2 cores a day, `day` in days before END
        return 80.0 + 2.0 * day

    frame = daily(
        [cores(-4 + 22 / 24), cores(-2.5), cores(-1.5), cores(-1 + 3 / 24)], hours=[4.0, 24.0, 24.0, 6.0]
    )
    row = forecast(frame, END).iloc[0]
    assert row["cpu_requested_growth_per_week"] == pytest.approx(14.0)
    assert row["last_data"] == "2026-11-19T06:00:00+00:00"
    assert row["cpu_requested"] == pytest.approx(cores(-1 + 6 / 24))  # read where the data ends


def test_days_count_by_their_hours() -> None:
    """A one-hour last day far off the line moves it a twentieth of what a full day would."""
    values = [60.0, 62.0, 64.0, 66.0, 300.0]
    hour = forecast(daily(values, hours=[24.0, 24.0, 24.0, 24.0, 1.0]), END).iloc[0]
    day = forecast(daily(values), END).iloc[0]
    off_by_hour = hour["cpu_requested_growth_per_week"] - 14.0
    off_by_day = day["cpu_requested_growth_per_week"] - 14.0
    assert 0 < off_by_hour < off_by_day / 10


def test_a_cluster_that_stopped_is_not_extrapolated_to_the_end() -> None:
    frame = daily([70.0 + i for i in range(10)] + [0.0] * 10, hours=[24.0] * 10 + [0.0] * 10)
    row = forecast(frame, END).iloc[0]
    assert row["last_data"] == "2026-11-10T00:00:00+00:00"
    assert row["cpu_requested"] == pytest.approx(79.5)  # the line at its last data, not 10 days on
    assert row["cpu_full_in_days"] == pytest.approx(20.5)
    assert row["cpu_full_on"] == "2026-11-30"  # counted from its last data


def test_a_nearly_flat_trend_gives_no_date() -> None:
    frame = daily([50.0 + 1e-6 * i for i in range(7)])  # full in ~50 million days
    row = forecast(frame, END).iloc[0]
    assert row["cpu_requested_growth_per_week"] > 0
    assert math.isnan(row["cpu_full_in_days"]) and row["cpu_full_on"] is None


@pytest.fixture(scope="module")
def fleet_db(simulated_fleet: Fleet) -> str:
    return simulated_fleet(days=4, seed=3, now=END)


def test_forecast_report_follows_the_clusters_report(fleet_db: str, tmp_path: Path) -> None:
    engine = open_store(fleet_db)
    request = ReportRequest("forecast", END - timedelta(days=4), END)
    try:
        with engine.connect() as conn:
            table = build_report(conn, request, Config())
            days = build_report(conn, ReportRequest("clusters", request.start, END, step="day"), Config())
            with pytest.raises(CapacityError, match="no --step"):
                build_report(conn, ReportRequest("forecast", request.start, END, step="week"), Config())
    finally:
        engine.dispose()
    assert sorted(table["cluster"]) == sorted(days["cluster"].unique())
    for row in table.itertuples():
        mine = days[(days["cluster"] == row.cluster) & (days["hours"] > 0)]
        assert row.days == len(mine)
        last = mine.iloc[-1]
        assert row.cpu_allocatable == pytest.approx(last["cpu_allocatable_core_hours"] / last["hours"])
    # the report is the forecast of the window's daily cluster rows (the line's math is tested above)
    pd.testing.assert_frame_equal(table, forecast(days, END))
    assert table["cpu_requested_growth_per_week"].notna().all()  # 4 days of hourly snapshots: a trend
    out = tmp_path / "forecast.csv"
    code = main(["--db", fleet_db, "report", "forecast", "--end", "2026-11-20", "--window", "4d",
                 "--format", "csv", "--output", str(out)])  # fmt: skip
    assert code == 0
    assert list(pd.read_csv(out).columns) == COLUMNS
