"""The HorizontalPodAutoscalers that scaled each workload at a window's end: what HPA-aware
right-sizing (``capacity.analysis.autoscaling``) reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, select

from capacity.store import schema as m
from capacity.store.latest import latest_snapshots

AUTOSCALER_COLUMNS = [
    "cluster", "namespace", "workload_kind", "workload", "hpa", "min_replicas", "max_replicas", "metrics",
]  # fmt: skip


def autoscalers_at(conn: Connection, end: datetime, clusters: Sequence[str] = ()) -> pd.DataFrame:
    """Return the HPAs of each cluster's newest snapshot before ``end``, one row each.

    Columns ``AUTOSCALER_COLUMNS``; ``metrics`` is a list of ``HpaMetric`` fields. A workload
    scaled by two HPAs (a misconfiguration the HPA controller refuses) has two rows.
    """
    latest = latest_snapshots(clusters, before=end)
    query = (
        select(
            m.Cluster.name,
            m.Workload.namespace,
            m.Workload.kind,
            m.Workload.name,
            m.HpaSample.name,
            m.HpaSample.min_replicas,
            m.HpaSample.max_replicas,
            m.HpaSample.metrics,
        )
        .select_from(latest)
        .join(m.HpaSample, m.HpaSample.snapshot_id == latest.c.snapshot_id)
        .join(m.Workload, m.Workload.id == m.HpaSample.workload_id)
        .join(m.Cluster, m.Cluster.id == latest.c.cluster_id)
        .order_by(m.Cluster.name, m.Workload.namespace, m.Workload.kind, m.Workload.name, m.HpaSample.name)
    )
    return pd.DataFrame([tuple(row) for row in conn.execute(query)], columns=AUTOSCALER_COLUMNS)
