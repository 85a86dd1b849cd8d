"""What a cluster's store already holds over a range: the instants a backfill must not write again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from capacity.store import schema as m
from capacity.store.buckets import HOUR, floor_bucket, utc
from capacity.store.grains import CLR, SNAP, table_of


def stored_coverage(
    conn: Connection, cluster: str, start: datetime, end: datetime
) -> tuple[set[datetime], set[datetime]]:
    """Return the cluster's snapshot instants in [start, end], and the hours in that range held only
    in rollups (their raw snapshots deleted by retention): both are stored and must not be written
    again (an hour rolled up once would not be rolled again, and its raw rows would be deleted)."""
    clusters = table_of(m.Cluster)
    cid = conn.execute(select(clusters.c.id).where(clusters.c.name == cluster)).scalar()
    if cid is None:
        return set(), set()
    instants = {
        utc(at)
        for at in conn.execute(
            select(SNAP.c.taken_at).where(
                SNAP.c.cluster_id == cid, SNAP.c.taken_at >= start, SNAP.c.taken_at <= end
            )
        ).scalars()
    }
    hours_with_raw = {floor_bucket(at, HOUR) for at in instants}
    rolled = {
        utc(at)
        for at in conn.execute(
            select(CLR.c.bucket_start).where(
                CLR.c.cluster_id == cid,
                CLR.c.tier == HOUR,
                CLR.c.bucket_start >= floor_bucket(start, HOUR),
                CLR.c.bucket_start <= end,
            )
        ).scalars()
    }
    return instants, rolled - hours_with_raw
