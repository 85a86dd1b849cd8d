"""Blocks: aligned runs of hours and days summed once more, so a long window reads a few rows.

A read served from blocks must equal the same read from hours and days alone, to the cent and
the sample, over any window, after late snapshots and after retention.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, event, func, select

from capacity.config import Retention
from capacity.store import compaction
from capacity.store import schema as m
from capacity.store.buckets import (
    BLOCKS,
    DAY,
    HOUR,
    STEP,
    TIERS,
    Tier,
    WindowPlan,
    floor_bucket,
    plan_window,
    serve,
)
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from tests.store.test_rollup import (
    KEEP_ALL,
    assert_same_clusters,
    assert_same_containers,
    assert_same_nodes,
    clusters,
    containers,
    history_snapshot,
    nodes,
)

H = timedelta(hours=1)
D = timedelta(days=1)
T0 = datetime(2026, 6, 1, tzinfo=UTC)
EVERY = 3 * H  # one snapshot every three hours
DAYS = 140  # two whole 64-day blocks at least
BLOCK_TIERS = [b.tier for b in BLOCKS]

# --- pure: which tier serves which part ------------------------------------------------------------


def test_a_month_is_served_by_a_few_blocks() -> None:
    start, end = datetime(2026, 11, 1, 12, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC)
    marks = {HOUR: end, DAY: datetime(2026, 12, 1, tzinfo=UTC)}
    marks |= {b.tier: floor_bucket(marks[b.base], b.tier) for b in BLOCKS}
    served = serve(plan_window(start, end, hour_until=marks[HOUR], day_until=marks[DAY]), marks)
    nov = lambda day, hour=0: datetime(2026, 11, day, hour, tzinfo=UTC)  # noqa: E731
    dec1 = datetime(2026, 12, 1, tzinfo=UTC)
    # Epoch days: Nov 3 is day 20,760 (a multiple of 4), Nov 11 day 20,768 (of 16).
    assert served == {
        None: (),
        HOUR: (),
        "h6": ((nov(1, 12), nov(2)), (dec1, end)),
        DAY: ((nov(2), nov(3)),),
        "d4": ((nov(3), nov(11)), (nov(27), dec1)),
        "d16": ((nov(11), nov(27)),),
        "d64": (),
    }
    # 9 rows per container where hours and days take 53
    assert sum((hi - lo) // STEP[t] for t, ranges in served.items() if t for lo, hi in ranges) == 9


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(
    start=instants,
    length=st.integers(0, 200 * 24 * 60),
    hour_mark=instants,
    day_back=st.integers(0, 60),
    lags=st.lists(st.none() | st.integers(0, 3), min_size=len(BLOCKS), max_size=len(BLOCKS)),
)
def test_serve_covers_the_plan_once_with_whole_blocks_before_their_marks(
    start: datetime, length: int, hour_mark: datetime, day_back: int, lags: list[int | None]
) -> None:
    end = start + timedelta(minutes=length)
    hour_until = floor_bucket(hour_mark, HOUR)
    day_until = floor_bucket(hour_until, DAY) - day_back * D
    marks: dict[Tier, datetime | None] = {HOUR: hour_until, DAY: day_until}
    for block, lag in zip(BLOCKS, lags, strict=True):  # blocks never rolled, or behind their source
        source = marks[block.source]
        marks[block.tier] = (
            None
            if lag is None or source is None
            else floor_bucket(source, block.tier) - lag * STEP[block.tier]
        )
    plan = plan_window(start, end, hour_until=hour_until, day_until=day_until)
    served = serve(plan, marks)
    assert served[None] == plan.raw
    for base, planned in ((DAY, plan.days), (HOUR, plan.hours)):
        tiers = [base, *(b.tier for b in BLOCKS if b.base == base)]
        pieces = sorted(r for t in tiers for r in served[t])
        merged: list[tuple[datetime, datetime]] = []
        for lo, hi in pieces:  # contiguous, never overlapping, and exactly the plan's ranges
            assert not merged or lo >= merged[-1][1]
            if merged and merged[-1][1] == lo:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        assert tuple(merged) == tuple(planned)
        for tier in tiers:
            assert len(served[tier]) <= 2 * max(1, len(planned))  # a few rows per plan range
            for lo, hi in served[tier]:
                assert floor_bucket(lo, tier) == lo and floor_bucket(hi, tier) == hi
                if tier != base:
                    mark = marks[tier]
                    assert mark is not None and hi <= mark


def test_without_marks_blocks_serve_nothing() -> None:
    plan = WindowPlan(days=((T0, T0 + 100 * D),), hours=((T0 - 5 * H, T0),), raw=())
    served = serve(plan, {HOUR: T0, DAY: T0 + 100 * D})
    assert served[DAY] == ((T0, T0 + 100 * D),) and served[HOUR] == ((T0 - 5 * H, T0),)
    assert all(served[t] == () for t in BLOCK_TIERS)


# --- on a real store -------------------------------------------------------------------------------


def write(engine: Engine, numbers: range | list[int]) -> None:
    with engine.begin() as conn:
        for i in numbers:
            snap = dataclasses.replace(history_snapshot("alpha", i % 288), taken_at=T0 + i * EVERY)
            write_snapshot(conn, snap, nominal_interval_seconds=EVERY.total_seconds(), pod_grain=False)


def without_blocks(engine: Engine) -> None:
    """Delete every block and its mark: reads go back to hours and days."""
    with engine.begin() as conn:
        for model in (
            m.ContainerRollup, m.NodeRollup, m.ClusterRollup, m.AllocationRollup, m.NodePriceRollup,
            m.ClusterPriceRollup, m.RollupWatermark,
        ):  # fmt: skip
            conn.execute(delete(model).where(model.tier.in_(BLOCK_TIERS)))  # type: ignore[attr-defined]


def block_rows(engine: Engine) -> dict[str, int]:
    cr = m.ContainerRollup
    with engine.connect() as conn:
        rows = conn.execute(select(cr.tier, func.count()).group_by(cr.tier))
        return {str(tier): int(n) for tier, n in rows if tier in BLOCK_TIERS}


WINDOWS = [
    (T0, T0 + DAYS * D),
    (T0 + 3 * D + 7 * H, T0 + 131 * D + 17 * H + timedelta(minutes=20)),
    (T0 + 20 * D + 13 * H, T0 + 50 * D + 13 * H),  # 30 days, edges mid-day
    (T0 + 64 * D, T0 + 65 * D),
    (T0 + 70 * D + 2 * H, T0 + 70 * D + 23 * H),
]


def same_reads(got: Engine, want: Engine, windows: list[tuple[datetime, datetime]]) -> None:
    for window in windows:
        assert_same_containers(containers(got, window), containers(want, window))
        assert_same_nodes(nodes(got, window), nodes(want, window))
        assert_same_clusters(clusters(got, window), clusters(want, window))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compacted 140-day history, written once (a few instants missed)."""
    path = tmp_path_factory.mktemp("blocks") / "template.db"
    engine = open_store(f"sqlite:///{path}")
    try:
        write(engine, [i for i in range(DAYS * 8) if i % 29 != 5])
        compact(engine, retention=KEEP_ALL, now=T0 + DAYS * D)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two copies of the history: one read with blocks, one without."""
    engines = []
    for name in ("blocks", "plain"):
        shutil.copyfile(template, tmp_path / f"{name}.db")
        engines.append(open_store(f"sqlite:///{tmp_path / name}.db"))
    without_blocks(engines[1])
    yield engines[0], engines[1]
    for engine in engines:
        engine.dispose()


def test_reads_from_blocks_equal_reads_from_hours_and_days(store: tuple[Engine, Engine]) -> None:
    blocks, plain = store
    assert set(block_rows(blocks)) == set(BLOCK_TIERS) and block_rows(plain) == {}
    same_reads(blocks, plain, WINDOWS)


def test_reads_from_blocks_on_each_database(db_url: str) -> None:
    """The same on SQLite and PostgreSQL: one store, read with its blocks, then without them."""
    engine = open_store(db_url)
    try:
        write(engine, [i for i in range(0, DAYS * 8, 2)])  # every six hours
        compact(engine, retention=KEEP_ALL, now=T0 + DAYS * D)
        assert set(block_rows(engine)) == set(BLOCK_TIERS)
        want = {w: (containers(engine, w), nodes(engine, w), clusters(engine, w)) for w in WINDOWS}
        without_blocks(engine)
        for window, (c, n, cl) in want.items():
            assert_same_containers(containers(engine, window), c)
            assert_same_nodes(nodes(engine, window), n)
            assert_same_clusters(clusters(engine, window), cl)
    finally:
        engine.dispose()


def test_late_snapshots_roll_their_blocks_again(store: tuple[Engine, Engine]) -> None:
    blocks, plain = store
    late = [i for i in range(DAYS * 8 - 60, DAYS * 8) if i % 29 == 5]  # the missed ones of the last week
    assert late
    for engine in (blocks, plain):
        write(engine, late)
        compact(engine, retention=KEEP_ALL, now=T0 + DAYS * D)
    without_blocks(plain)
    same_reads(blocks, plain, [*WINDOWS, (T0 + (DAYS - 8) * D + 5 * H, T0 + DAYS * D)])


def test_a_store_from_before_blocks_gets_them_at_its_next_compaction(store: tuple[Engine, Engine]) -> None:
    blocks, plain = store
    before = {window: containers(plain, window) for window in WINDOWS}
    result = compact(plain, retention=KEEP_ALL, now=T0 + DAYS * D)
    assert (result.hours_rolled, result.days_rolled) == (0, 0)
    assert block_rows(plain) == block_rows(blocks)
    for window, frame in before.items():
        assert_same_containers(containers(plain, window), frame)


def test_a_store_from_before_blocks_catches_up_a_budget_per_transaction(
    store: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its blocks come a slice at a time (each slice its own transaction, so no write lock is
    held for the whole history), and the result is the same as in one go."""
    blocks, plain = store
    monkeypatch.setattr(compaction, "BLOCK_BUDGET_ROWS", 200)  # a few blocks per slice
    statements: list[str] = []
    event.listen(plain, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    compact(plain, retention=KEEP_ALL, now=T0 + DAYS * D)
    # many small transactions (in one go: the hours', the days' and retention's, and the list)
    assert sum(1 for s in statements if s.startswith("BEGIN")) > 20
    assert block_rows(plain) == block_rows(blocks)
    for window in WINDOWS:
        assert_same_containers(containers(plain, window), containers(blocks, window))
    again = compact(plain, retention=KEEP_ALL, now=T0 + DAYS * D)
    assert again.rollup_rows == 0


def test_retention_keeps_a_block_until_its_last_bucket_goes(store: tuple[Engine, Engine]) -> None:
    blocks, plain = store
    now = T0 + DAYS * D
    kept_days = 100  # the daily cutoff falls inside a 64-day block and a 16-day block
    short = Retention(raw_days=3650, hourly_days=3650, daily_days=kept_days)
    cutoff = floor_bucket(now - kept_days * D, DAY)
    after = [(cutoff + 3 * D + 5 * H, now - 2 * H), (cutoff, now), (cutoff + 40 * D, cutoff + 71 * D)]
    want = {window: containers(blocks, window) for window in after}
    result = compact(blocks, retention=short, now=now)
    assert result.deleted["container_rollups:day"] > 0
    cr = m.ContainerRollup
    with blocks.connect() as conn:
        for tier in ("d4", "d16", "d64"):
            starts = [
                s.replace(tzinfo=UTC)
                for s in conn.execute(select(cr.bucket_start).where(cr.tier == tier)).scalars()
            ]
            assert min(starts) + STEP[tier] > cutoff, tier  # the first one kept still holds a kept day
            assert min(starts) == floor_bucket(cutoff, tier), tier  # and the one that straddles stays
    for window, frame in want.items():
        assert_same_containers(containers(blocks, window), frame)
    del plain


def test_every_tier_has_a_step_and_blocks_nest() -> None:
    assert set(STEP) == set(TIERS)
    for block in BLOCKS:
        source = STEP[block.source]
        assert STEP[block.tier] % source == timedelta(0) and STEP[block.tier] > source
        assert STEP[DAY] % STEP[block.tier] == timedelta(0) or STEP[block.tier] % STEP[DAY] == timedelta(0)
    assert [b.source for b in BLOCKS] == [HOUR, DAY, "d4", "d16"]  # each from the one before it
