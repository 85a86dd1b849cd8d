"""Dimension lookups the analysis needs next to the windowed sums: labels of workloads and namespaces."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, select

from capacity.store import schema as m


def workload_labels(conn: Connection, workload_ids: list[int], *, names: bool = False) -> pd.DataFrame:
    """Return per workload id: its pod labels and its namespace's labels (with ``names``, first
    its ``namespace``, ``kind`` and ``workload`` name)."""
    named = ["namespace", "kind", "workload"] if names else []
    if not workload_ids:
        return pd.DataFrame(columns=["workload_id", *named, "pod_labels", "namespace_labels"])
    rows: list[tuple[object, ...]] = []
    identity = (m.Workload.namespace, m.Workload.kind, m.Workload.name) if names else ()
    # Chunked: SQLite caps bound parameters per statement.
    for start in range(0, len(workload_ids), 5000):
        chunk = workload_ids[start : start + 5000]
        query = (
            select(m.Workload.id, *identity, m.Workload.labels, m.Namespace.labels)
            .outerjoin(
                m.Namespace,
                (m.Namespace.cluster_id == m.Workload.cluster_id)
                & (m.Namespace.name == m.Workload.namespace),
            )
            .where(m.Workload.id.in_(chunk))
        )
        rows.extend((int(i), *ident, wl or {}, nl or {}) for i, *ident, wl, nl in conn.execute(query))
    return pd.DataFrame(rows, columns=["workload_id", *named, "pod_labels", "namespace_labels"])


def namespace_labels(conn: Connection) -> dict[tuple[int, str], dict[str, str]]:
    """Return every namespace's labels by (cluster id, name)."""
    query = select(m.Namespace.cluster_id, m.Namespace.name, m.Namespace.labels)
    return {(int(cid), str(name)): labels or {} for cid, name, labels in conn.execute(query)}
