"""Batched inserts: plain, ignoring unique-key conflicts (concurrent writers), and key rows by digest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

BATCH_ROWS = 10_000


def insert_ignoring_conflicts(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows, skipping those that collide with a unique constraint (concurrent writers)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table)
    for start in range(0, len(rows), BATCH_ROWS):
        conn.execute(stmt, list(rows[start : start + BATCH_ROWS]))


def bulk_insert(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> int:
    batch: list[Mapping[str, Any]] = []
    count = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            conn.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def key_ids(conn: Connection, table: Table, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Return the id of each key row by its digest (``rows``: digest -> the other columns),
    inserting the missing ones; ``table`` has ``id`` and a unique ``digest``."""
    if not rows:
        return {}
    insert_ignoring_conflicts(conn, table, [{"digest": digest, **row} for digest, row in rows.items()])
    digests = sorted(rows)
    ids: dict[str, int] = {}
    for start in range(0, len(digests), 500):  # SQLite caps bound parameters per statement
        query = select(table.c.id, table.c.digest).where(table.c.digest.in_(digests[start : start + 500]))
        ids.update({str(digest): int(ident) for ident, digest in conn.execute(query)})
    return ids
