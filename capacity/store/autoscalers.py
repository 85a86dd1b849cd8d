"""The HorizontalPodAutoscalers that scaled each workload at a window's end: what a recommendation
row says of a workload's HPA (``hpa``, ``hpa_target``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from capacity.store import schema as m

AUTOSCALER_COLUMNS = ["cluster", "namespace", "workload_kind", "workload", "hpa", "hpa_target"]


def _target(metric: Mapping[str, Any]) -> str:
    """Return one metric target for people: ``cpu 70%``, ``memory 80%``, ``external queue_depth 30``."""
    value = float(metric.get("target", 0.0))
    shown = f"{value:g}%" if metric.get("target_type") == "Utilization" else f"{value:g}"
    kind = str(metric.get("type", ""))
    prefix = "" if kind in ("Resource", "ContainerResource") else f"{kind.lower()} "
    return f"{prefix}{metric.get('name', '')} {shown}"


def autoscalers_at(conn: Connection, end: datetime, clusters: Sequence[str] = ()) -> pd.DataFrame:
    """Return per workload the HPA of its cluster's newest snapshot before ``end`` and its targets.

    Columns ``AUTOSCALER_COLUMNS``; a workload scaled by two HPAs (a misconfiguration the HPA
    controller refuses) lists both, comma-joined.
    """
    newest = select(m.Snapshot.cluster_id, func.max(m.Snapshot.taken_at).label("taken_at")).where(
        m.Snapshot.taken_at < end
    )
    if clusters:
        newest = newest.where(
            m.Snapshot.cluster_id.in_(select(m.Cluster.id).where(m.Cluster.name.in_(clusters)))
        )
    latest = newest.group_by(m.Snapshot.cluster_id).subquery("latest")
    query = (
        select(
            m.Cluster.name,
            m.Workload.namespace,
            m.Workload.kind,
            m.Workload.name,
            m.HpaSample.name,
            m.HpaSample.metrics,
        )
        .select_from(latest)
        .join(
            m.Snapshot,
            (m.Snapshot.cluster_id == latest.c.cluster_id) & (m.Snapshot.taken_at == latest.c.taken_at),
        )
        .join(m.HpaSample, m.HpaSample.snapshot_id == m.Snapshot.id)
        .join(m.Workload, m.Workload.id == m.HpaSample.workload_id)
        .join(m.Cluster, m.Cluster.id == m.Snapshot.cluster_id)
        .order_by(m.Cluster.name, m.Workload.namespace, m.Workload.kind, m.Workload.name, m.HpaSample.name)
    )
    held: dict[tuple[str, str, str, str], tuple[list[str], list[str]]] = {}
    for cluster, namespace, kind, workload, hpa, metrics in conn.execute(query):
        names, targets = held.setdefault((cluster, namespace, kind, workload), ([], []))
        names.append(str(hpa))
        targets.append(", ".join(_target(metric) for metric in metrics or []))
    rows = [(*key, ",".join(names), "; ".join(targets)) for key, (names, targets) in held.items()]
    return pd.DataFrame(rows, columns=AUTOSCALER_COLUMNS)
