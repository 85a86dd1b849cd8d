"""Retention tiers: raw rows, hourly and daily rollups are deleted by age, and never before
what they hold is summed in a coarser tier."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select

from capacity.config import Retention
from capacity.store import schema as m
from capacity.store.buckets import BLOCKS, DAY, HOUR, TIERS, Tier, floor_bucket
from capacity.store.grains import CS, NS, QS, SNAP, table_of
from capacity.store.priced import AA, CA, LBS, ROLLED_GRAINS, VS
from capacity.store.watermarks import lock_cluster, watermark

ROLLUP_TABLES = tuple(grain.rollup for grain in ROLLED_GRAINS)
RAW_TABLES = (CS, CA, NS, QS, AA, VS, LBS, table_of(m.HpaSample))


def apply_retention(
    conn: Connection, cid: int, retention: Retention, now: datetime, deleted: dict[str, int]
) -> None:
    def count(key: str, rows: int) -> None:
        deleted[key] = deleted.get(key, 0) + max(rows, 0)

    lock_cluster(conn, cid)
    hours_until = watermark(conn, cid, HOUR)
    days_until = watermark(conn, cid, DAY)
    if hours_until is not None:
        # Raw rows go only once they are summed in hourly rollups.
        cutoff = min(now - timedelta(days=retention.raw_days), hours_until)
        pods = table_of(m.Pod)
        keep = select(pods.c.snapshot_id).where(pods.c.cluster_id == cid)
        newest = select(func.max(SNAP.c.taken_at)).where(SNAP.c.cluster_id == cid).scalar_subquery()
        for table in RAW_TABLES:
            result = conn.execute(
                delete(table).where(
                    table.c.cluster_id == cid, table.c.taken_at < cutoff, table.c.snapshot_id.not_in(keep)
                )
            )
            count(table.name, result.rowcount)
        result = conn.execute(
            delete(SNAP).where(
                SNAP.c.cluster_id == cid,
                SNAP.c.taken_at < cutoff,
                SNAP.c.taken_at < newest,
                SNAP.c.id.not_in(keep),
            )
        )
        count("snapshots", result.rowcount)
    if days_until is not None:
        # Hourly rollups go only once their days are rolled up.
        cutoff = min(floor_bucket(now - timedelta(days=retention.hourly_days), HOUR), days_until)
        _delete_rollups(conn, cid, HOUR, cutoff, count)
    _delete_rollups(conn, cid, DAY, floor_bucket(now - timedelta(days=retention.daily_days), DAY), count)


def _delete_rollups(
    conn: Connection, cid: int, base: Tier, cutoff: datetime, count: Callable[[str, int], None]
) -> None:
    """Delete the ``base`` rollups before ``cutoff``, and the blocks of them that end by it.

    A block that straddles the cutoff stays whole: a read whose window covers it takes it instead
    of its hours or days, and without it would lose those still kept after the cutoff. Such a
    read (its window starts before the cutoff) also gets the deleted part back from the block,
    where hours and days alone would leave it out."""
    for tier in (base, *(b.tier for b in BLOCKS if b.base == base)):
        before = floor_bucket(cutoff, tier) if tier != base else cutoff
        for table in ROLLUP_TABLES:
            result = conn.execute(
                delete(table).where(
                    table.c.tier == tier, table.c.cluster_id == cid, table.c.bucket_start < before
                )
            )
            count(f"{table.name}:{tier}", result.rowcount)


RETENTION_KEYS = (
    *(table.name for table in RAW_TABLES), "snapshots",
    *(f"{table.name}:{tier}" for tier in TIERS for table in ROLLUP_TABLES),
)  # fmt: skip
