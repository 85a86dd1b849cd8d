"""The one container read of a report (``Reads.prefetch``) gives what separate window reads give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import event

from capacity.reads import Reads
from capacity.reports import periods
from capacity.store.engine import open_store
from capacity.store.grains import HISTOGRAMS, TOTALS
from tests.conftest import Fleet

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
END = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
SINCE = END - timedelta(hours=30)  # the right-sizing window, shorter than the fleet's two days


@pytest.fixture(scope="module")
def fleet_db(simulated_fleet: Fleet) -> str:
    return simulated_fleet(days=2, seed=2, now=NOW)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(want) > 0
    got = got[list(want.columns)]
    hists = [c for c in HISTOGRAMS if c in want.columns]
    pd.testing.assert_frame_equal(got.drop(columns=hists), want.drop(columns=hists), rtol=1e-9)
    for column in hists:
        for a, b in zip(got[column], want[column], strict=True):
            assert dict(a) == pytest.approx(dict(b), rel=1e-9)


@pytest.mark.parametrize(
    ("start", "step"),
    [
        (END - timedelta(hours=10), None),  # inside the right-sizing window
        (END - timedelta(hours=40), None),  # longer than it
        (END - timedelta(hours=44), "day"),  # per period
    ],
)
def test_one_read_of_the_union_gives_both_windows(fleet_db: str, start: datetime, step: str | None) -> None:
    spans = None if step is None else tuple(periods(start, END, "day"))
    engine = open_store(fleet_db)
    statements: list[str] = []
    try:
        with engine.connect() as conn:
            shared = Reads()

            def count(*args: object) -> None:
                statements.append(str(args[2]))

            event.listen(engine, "before_cursor_execute", count)
            shared.prefetch(conn, (start, END), spans, SINCE, ())
            read = len(statements)
            sized = shared.containers(conn, SINCE, END, (), histograms=True)
            report = shared.containers(conn, start, END, (), histograms=False, spans=spans)
            ran = shared.workloads(conn, start, END, ())
            assert len(statements) == read  # all three were filed by the one read
            event.remove(engine, "before_cursor_execute", count)
            _same(sized, Reads().containers(conn, SINCE, END, (), histograms=True))
            alone = Reads().containers(conn, start, END, (), histograms=False, spans=spans)
            _same(report[[c for c in alone.columns]], alone)
            pd.testing.assert_frame_equal(ran, Reads().workloads(conn, start, END, ()))
            assert any(len(h) for h in sized["cpu_usage_hist"])  # histograms were merged
            for column in TOTALS:  # those of all replicas only for HPAs: the report merges them
                assert not any(len(h) for h in sized[column]), column
    finally:
        engine.dispose()
