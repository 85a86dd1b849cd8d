"""Each cluster's newest snapshot: the one query every "latest" view (status, health, inventory) joins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Subquery, func, select

from capacity.store import schema as m


def latest_snapshots(clusters: Sequence[str] = ()) -> Subquery:
    """Return per cluster with a snapshot (of ``clusters``; () = all) its newest snapshot.

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
