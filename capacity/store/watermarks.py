"""How far each cluster's rollups are complete, and the lock that serializes its compactions."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from capacity.store import schema as m
from capacity.store.buckets import Tier
from capacity.store.grains import WM, table_of


def watermark(conn: Connection, cid: int, tier: Tier) -> datetime | None:
    value = conn.execute(
        select(WM.c.complete_until).where(WM.c.cluster_id == cid, WM.c.tier == tier)
    ).scalar()
    return cast(datetime | None, value)


def set_watermark(conn: Connection, cid: int, tier: Tier, until: datetime) -> None:
    # Insert-if-missing, then raise: two compactions that began on the same stale read (which
    # the cluster row lock and SQLite's write lock prevent) would still keep the later mark.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {"cluster_id": cid, "tier": tier, "complete_until": until}
    conn.execute(dialect.insert(WM).on_conflict_do_nothing(), row)
    conn.execute(
        update(WM)
        .where(WM.c.cluster_id == cid, WM.c.tier == tier, WM.c.complete_until < until)
        .values(complete_until=until)
    )


def lock_cluster(conn: Connection, cid: int) -> None:
    # Serializes compactions of one cluster on PostgreSQL; NO KEY UPDATE leaves collectors free
    # to insert rows that reference the cluster. SQLite serializes writers by itself.
    table = table_of(m.Cluster)
    conn.execute(select(table.c.id).where(table.c.id == cid).with_for_update(key_share=True)).all()
