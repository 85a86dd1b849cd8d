"""Compaction: every complete hour and day of each cluster rolled up, then retention applied.

``compact`` rolls every complete hour and day of each cluster (complete: strictly before the
hour or day of the cluster's newest snapshot), records how far in ``rollup_watermarks``, then
applies the retention tiers (``capacity.store.retention``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select

from capacity.config import Retention
from capacity.store import schema as m
from capacity.store.buckets import BLOCKS, DAY, HOUR, STEP, Block, Tier, floor_bucket, utc
from capacity.store.engine import write_transaction as _transaction
from capacity.store.grains import (
    CLR,
    CR,
    HISTOGRAMS,
    MAX_SPANS,
    NR,
    SNAP,
    Scope,
    aggregate,
    grain_rows,
    hist_rows,
    merged_hists,
    table_of,
)
from capacity.store.priced import ROLLED_GRAINS
from capacity.store.retention import RETENTION_KEYS, apply_retention
from capacity.store.watermarks import lock_cluster, set_watermark, watermark

# Input rows (samples, or hourly rollup rows) summed by one statement: many small buckets go
# together, a big cluster's buckets go one by one, and memory stays bounded either way.
ROLL_BATCH_ROWS = 50_000
# Source rows one compaction transaction may roll into blocks it is catching up on.
BLOCK_BUDGET_ROWS = 4 * ROLL_BATCH_ROWS
# What each tier is rolled up from (None: raw samples).
SOURCE: dict[Tier, Tier | None] = {HOUR: None, DAY: HOUR, **{b.tier: b.source for b in BLOCKS}}


@dataclass(frozen=True, slots=True)
class CompactResult:
    """What one ``compact`` run did."""

    clusters: int
    hours_rolled: int  # (cluster, hour) buckets computed
    days_rolled: int  # (cluster, day) buckets computed
    rollup_rows: int  # rollup rows written (hours, days and their blocks)
    deleted: dict[str, int] = field(default_factory=dict)  # table (rollups: "table:tier") -> rows
    late_hours: int = 0  # (cluster, hour) buckets rolled again for snapshots that came late


def _batches(weights: dict[datetime, int]) -> Iterator[list[datetime]]:
    """Yield runs of at most MAX_SPANS buckets whose weights stay within ROLL_BATCH_ROWS."""
    batch: list[datetime] = []
    total = 0
    for bucket in sorted(weights):
        if batch and (total + weights[bucket] > ROLL_BATCH_ROWS or len(batch) >= MAX_SPANS):
            yield batch
            batch, total = [], 0
        batch.append(bucket)
        total += weights[bucket]
    if batch:
        yield batch


def _roll(conn: Connection, cid: int, tier: Tier, starts: list[datetime]) -> int:
    """Replace the rollups of one cluster's ``tier`` buckets that start at ``starts``; return rows
    written. Only those buckets: a late bucket and the new ones after a gap (a backfill beside a
    live collector) go in one batch, and the buckets between them stay as they are."""
    for table in (grain.rollup for grain in ROLLED_GRAINS):
        conn.execute(
            delete(table).where(
                table.c.tier == tier, table.c.cluster_id == cid, table.c.bucket_start.in_(starts)
            )
        )
    scope = Scope.bucketed(cid, starts, tier)
    source_tier = SOURCE[tier]
    written = 0
    for grain in ROLLED_GRAINS:
        source = grain_rows(grain, source_tier, scope)
        assert source is not None
        rows = [dict(row._mapping) for row in conn.execute(aggregate(grain, [source], bucketed=True))]
        if not rows:
            continue
        for row in rows:
            row["tier"] = tier
        for column in HISTOGRAMS if grain.hist else ():
            hist_source = hist_rows(source_tier, scope, column)
            hists = merged_hists(conn, [hist_source] if hist_source is not None else [])
            for row in rows:
                key = (row["bucket_start"], cid, row["workload_id"], row["container"])
                row[column] = {str(k): v for k, v in sorted(hists.get(key, {}).items())}
        conn.execute(insert(grain.rollup), rows)
        written += len(rows)
    return written


def _late_buckets(
    conn: Connection,
    cid: int,
    tier: Tier,
    counted: dict[datetime, int],
    since: datetime,
    until: datetime | None,
) -> list[datetime]:
    """Return the rolled-up ``tier`` buckets in [since, until) with fewer node samples than ``counted``.

    ``counted`` holds the node samples per bucket that its source holds now (snapshots for
    hours, hourly rollups for days); a bucket rolled up before a late snapshot arrived holds fewer.
    """
    if until is None or until <= since:
        return []
    rolled = {
        floor_bucket(start, tier): int(samples)
        for start, samples in conn.execute(
            select(CLR.c.bucket_start, CLR.c.samples).where(
                CLR.c.tier == tier,
                CLR.c.cluster_id == cid,
                CLR.c.bucket_start >= since,
                CLR.c.bucket_start < until,
            )
        )
    }
    # more than rolled: a late arrival; fewer is retention at work on the oldest bucket
    return sorted(b for b, n in counted.items() if since <= b < until and n > rolled.get(b, 0))


def _roll_hours(conn: Connection, cid: int, raw_since: datetime) -> tuple[int, int, int, bool]:
    """Roll up the complete hours not rolled yet, and roll again those a late snapshot joined.

    ``raw_since``: raw rows before it may be gone (retention), so an hour before it is never
    rolled again (its late snapshots stay out of the rollups, and retention deletes them).
    Returns (hours, rows written, late hours, whether its blocks are behind).
    """
    lock_cluster(conn, cid)
    oldest, newest = conn.execute(
        select(func.min(SNAP.c.taken_at), func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid)
    ).one()
    if newest is None:
        return 0, 0, 0, False
    until = floor_bucket(newest, HOUR)  # the newest snapshot's hour is still filling
    rolled_until = watermark(conn, cid, HOUR)
    since = rolled_until or floor_bucket(oldest, HOUR)
    # A snapshot written after its hour was rolled up (a late collector, a backfill): roll the
    # hour again while all its raw rows are still kept, and its day with it (_roll_days).
    horizon = floor_bucket(raw_since, HOUR) + STEP[HOUR]  # hours that retention has not touched
    weights: dict[datetime, int] = defaultdict(int)
    samples: dict[datetime, int] = defaultdict(int)
    for taken, nodes, containers in conn.execute(
        select(SNAP.c.taken_at, SNAP.c.node_count, SNAP.c.container_count).where(
            SNAP.c.cluster_id == cid, SNAP.c.taken_at >= min(since, horizon), SNAP.c.taken_at < until
        )
    ):
        bucket = floor_bucket(taken, HOUR)
        samples[bucket] += int(nodes)
        if taken >= since:
            weights[bucket] += 1 + nodes + containers
    late = _late_buckets(conn, cid, HOUR, samples, horizon, rolled_until)
    for bucket in late:
        weights[bucket] = 1
    written = sum(_roll(conn, cid, HOUR, batch) for batch in _batches(weights))
    set_watermark(conn, cid, HOUR, until)
    blocks, behind = _roll_blocks(conn, cid, HOUR, set(weights))
    return len(weights), written + blocks, len(late), behind


def _roll_days(conn: Connection, cid: int, raw_since: datetime) -> tuple[int, int, bool]:
    lock_cluster(conn, cid)
    hours_until = watermark(conn, cid, HOUR)
    if hours_until is None:
        return 0, 0, False
    until = floor_bucket(hours_until, DAY)  # days whose every hour is rolled up
    newest = conn.execute(select(func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid)).scalar()
    if newest is not None:
        until = min(until, floor_bucket(newest, DAY))
    since = watermark(conn, cid, DAY)
    # days rolled up before one of their hours was rolled again (see _roll_hours)
    horizon = floor_bucket(raw_since, DAY)
    hourly: dict[datetime, int] = defaultdict(int)
    for start, samples in conn.execute(
        select(CLR.c.bucket_start, CLR.c.samples).where(
            CLR.c.tier == HOUR, CLR.c.cluster_id == cid, CLR.c.bucket_start >= horizon
        )
    ):
        hourly[floor_bucket(start, DAY)] += int(samples)
    late = _late_buckets(conn, cid, DAY, hourly, horizon, since)
    if since is not None and until <= since and not late:
        # the usual case after a collection: no new complete day (blocks of a store from before
        # them are rolled all the same)
        return 0, *_roll_blocks(conn, cid, DAY, set())
    weights: dict[datetime, int] = defaultdict(int)
    for start, rows in _source_rows(conn, cid, HOUR, since, until).items():
        weights[floor_bucket(start, DAY)] += rows
    for day in late:
        weights[day] = max(weights[day], 1)
    written = sum(_roll(conn, cid, DAY, batch) for batch in _batches(weights))
    set_watermark(conn, cid, DAY, until)
    blocks, behind = _roll_blocks(conn, cid, DAY, set(weights))
    return len(weights), written + blocks, behind


def _source_rows(
    conn: Connection, cid: int, tier: Tier, since: datetime | None, until: datetime
) -> dict[datetime, int]:
    """Return the container and node rollup rows of ``tier`` per bucket in [since, until)."""
    rows: dict[datetime, int] = defaultdict(int)
    for table in (CR, NR):
        query = select(table.c.bucket_start, func.count()).where(
            table.c.tier == tier, table.c.cluster_id == cid, table.c.bucket_start < until
        )
        if since is not None:
            query = query.where(table.c.bucket_start >= since)
        for start, count in conn.execute(query.group_by(table.c.bucket_start)):
            rows[utc(start)] += int(count)
    return rows


def _roll_blocks(conn: Connection, cid: int, base: Tier, rolled: set[datetime]) -> tuple[int, bool]:
    """Roll up the blocks of ``base`` (finest first) that hold a bucket rolled just now, and the
    blocks completed since each tier's mark, as many as BLOCK_BUDGET_ROWS source rows allow;
    return (rows written, whether a tier is left behind its source).

    A block is complete once its source tier is rolled up past its end. A tier never rolled (a
    store from before blocks) starts at its source's oldest bucket; a tier behind catches up
    a budget at a time (``compact`` runs it again, in a transaction of its own), so no write
    lock is held for long. Reads use each tier only up to its mark.
    """
    written, behind = 0, False
    for block in (b for b in BLOCKS if b.base == base):
        source_until = watermark(conn, cid, block.source)
        if source_until is None:
            break
        step = STEP[block.tier]
        until = floor_bucket(source_until, block.tier)
        since = watermark(conn, cid, block.tier) or _oldest(conn, cid, block.source, block.tier, until)
        late = {floor_bucket(b, block.tier) for b in rolled}
        weights = _block_weights(conn, cid, block, {b for b in late if b + step <= until})
        completed: list[datetime] = []
        at = since
        while at < until and len(completed) < MAX_SPANS:  # whether or not they hold rows
            completed.append(at)
            at += step
        budget = 0
        for start, count in _block_weights(conn, cid, block, set(completed)).items():
            if budget and budget + count > BLOCK_BUDGET_ROWS:
                break
            weights[start] = count
            budget += count
            since = start + step
        if weights:
            written += sum(_roll(conn, cid, block.tier, batch) for batch in _batches(weights))
        set_watermark(conn, cid, block.tier, since)
        behind = behind or since < until
        rolled = set(weights)
    return written, behind


def _oldest(conn: Connection, cid: int, source: Tier, tier: Tier, until: datetime) -> datetime:
    """Return the start of the ``tier`` block that holds the oldest ``source`` bucket (or ``until``)."""
    found = []
    for table in (CR, NR):
        oldest = conn.execute(
            select(func.min(table.c.bucket_start)).where(table.c.tier == source, table.c.cluster_id == cid)
        ).scalar()
        if oldest is not None:
            found.append(utc(oldest))
    return floor_bucket(min(found), tier) if found else until


def _block_weights(conn: Connection, cid: int, block: Block, starts: set[datetime]) -> dict[datetime, int]:
    """Return per block start (in order) 1 + the container and node rows of its source it holds."""
    if not starts:
        return {}
    weights = dict.fromkeys(sorted(starts), 1)
    end = max(starts) + STEP[block.tier]
    for start, count in _source_rows(conn, cid, block.source, min(starts), end).items():
        held = floor_bucket(start, block.tier)
        if held in weights:
            weights[held] += count
    return weights


def _catch_up_blocks(target: Engine | Connection, cid: int) -> int:
    """Roll the blocks a cluster's tiers are behind on, a budget per transaction; return rows."""
    written, behind = 0, True
    while behind:
        with _transaction(target) as conn:
            lock_cluster(conn, cid)
            hours, hours_behind = _roll_blocks(conn, cid, HOUR, set())
            days, days_behind = _roll_blocks(conn, cid, DAY, set())
        written, behind = written + hours + days, hours_behind or days_behind
    return written


def compact(
    target: Engine | Connection,
    *,
    retention: Retention,
    now: datetime | None = None,
    clusters: tuple[str, ...] = (),
) -> CompactResult:
    """Roll up every complete hour and day, then apply retention; return what was done.

    ``clusters`` limits the work to those cluster names (a collector compacts its own cluster
    after each collection); empty means every cluster. Given an Engine (or a Connection outside a
    transaction), each cluster's hourly step, daily step and retention step run in a transaction
    of their own, so a failure leaves every cluster at a consistent watermark; given a Connection
    inside a transaction, everything runs in the caller's transaction. Idempotent: a second run
    with nothing new computes nothing and deletes nothing. An hour that got a snapshot after it
    was rolled up (more node samples in its snapshots than in its rollup) is rolled again, with
    its day, while its raw rows are all kept (``retention.raw_days``).
    """
    now = utc(now or datetime.now(UTC))
    table = table_of(m.Cluster)
    query = select(table.c.id).order_by(table.c.id)
    if clusters:
        query = query.where(table.c.name.in_(clusters))
    with _transaction(target) as conn:
        cids = [int(c) for c in conn.execute(query).scalars()]
    hours = days = rows = late = 0
    deleted = dict.fromkeys(RETENTION_KEYS, 0)
    raw_since = now - timedelta(days=retention.raw_days)
    for cid in cids:
        with _transaction(target) as conn:
            buckets, written, late_hours, hours_behind = _roll_hours(conn, cid, raw_since)
        hours, rows, late = hours + buckets, rows + written, late + late_hours
        with _transaction(target) as conn:
            buckets, written, days_behind = _roll_days(conn, cid, raw_since)
        days, rows = days + buckets, rows + written
        if hours_behind or days_behind:  # a store from before blocks, a budget at a time
            rows += _catch_up_blocks(target, cid)
        with _transaction(target) as conn:
            apply_retention(conn, cid, retention, now, deleted)
    return CompactResult(
        clusters=len(cids),
        hours_rolled=hours,
        days_rolled=days,
        rollup_rows=rows,
        deleted=deleted,
        late_hours=late,
    )


# --- window reads -----------------------------------------------------------------------------
