"""Each cluster's newest snapshot: the one query every "latest" view (status, health, inventory)
joins, and what the nodes of such snapshots cost today."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Subquery, func, select

from capacity.config import Pricing
from capacity.costing import price_table
from capacity.store import schema as m
from capacity.store.priced import price_keys


def latest_snapshots(clusters: Sequence[str] = (), before: datetime | None = None) -> Subquery:
    """Return per cluster with a snapshot (of ``clusters``; () = all) its newest snapshot (the
    newest before ``before`` when given: the one a window ending there last saw).

    Columns: ``cluster_id``, ``snapshot_id`` and ``taken_at`` of the newest snapshot, ``snapshots``
    (how many the cluster has) and ``first_snapshot`` (the oldest one's time). Join facts on
    ``snapshot_id``, or on (``cluster_id``, ``taken_at``) where an index leads with both.
    """
    history = select(
        m.Snapshot.cluster_id,
        func.count().label("snapshots"),
        func.min(m.Snapshot.taken_at).label("first_snapshot"),
        func.max(m.Snapshot.taken_at).label("taken_at"),
    ).group_by(m.Snapshot.cluster_id)
    if clusters:
        named = select(m.Cluster.id).where(m.Cluster.name.in_(tuple(clusters)))
        history = history.where(m.Snapshot.cluster_id.in_(named))
    if before is not None:
        history = history.where(m.Snapshot.taken_at < before)
    newest = history.subquery("history")
    return (
        select(
            newest.c.cluster_id,
            m.Snapshot.id.label("snapshot_id"),
            newest.c.taken_at,
            newest.c.snapshots,
            newest.c.first_snapshot,
        )
        .join(
            m.Snapshot,
            (m.Snapshot.cluster_id == newest.c.cluster_id) & (m.Snapshot.taken_at == newest.c.taken_at),
        )
        .subquery("latest")
    )


def current_prices(conn: Connection, ids: Sequence[int], pricing: Pricing) -> pd.DataFrame:
    """Return ``capacity.costing.price_table`` of these price keys at today's prices, by id.

    For the views of the latest snapshots (pools, packing, price sources): what a node costs now.
    """
    table = price_table(price_keys(conn, ids), pricing.at(datetime.now(UTC)))
    return table.set_index("price_key_id")


def node_hourly(conn: Connection, frame: pd.DataFrame, pricing: Pricing) -> pd.Series:
    """Return per row of ``frame`` (``price_key_id``, ``stored_hourly``, ``nodes``) its nodes' hourly price.

    Rows from before price keys (no key) keep the price stored with them.
    """
    keyed = frame["price_key_id"].notna()
    ids = [int(k) for k in frame.loc[keyed, "price_key_id"].unique()]
    prices = current_prices(conn, ids, pricing)["node_hourly"] if ids else pd.Series(dtype=float)
    priced = frame["price_key_id"].map(lambda k: prices.get(int(k), 0.0) if pd.notna(k) else 0.0)
    return frame["stored_hourly"].astype(float) + priced.astype(float) * frame["nodes"].astype(float)
