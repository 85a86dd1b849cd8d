"""Writing a snapshot's volumes and load balancers (their keys, samples and what each workload
held) and its HorizontalPodAutoscalers: the objects beside the pods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from capacity.records import AssetKey, Snapshot, WorkloadKey
from capacity.store import schema as m
from capacity.store.grains import table_of
from capacity.store.inserts import bulk_insert, key_ids

OBJECT_TABLES = (m.AssetAllocation, m.VolumeSample, m.LoadBalancerSample, m.HpaSample)


def asset_key_ids(conn: Connection, keys: Iterable[AssetKey]) -> dict[AssetKey, int]:
    """Return the id of each asset key, creating the missing ones."""
    wanted = {key.digest: key for key in keys}
    rows = {
        digest: {
            "kind": key.kind,
            "storage_class": key.storage_class,
            "provisioner": key.provisioner,
            "parameters": dict(key.parameters),
            "load_balancer_class": key.load_balancer_class,
            "local": key.local,
        }
        for digest, key in wanted.items()
    }
    return {wanted[digest]: ident for digest, ident in key_ids(conn, table_of(m.AssetKeyRow), rows).items()}


def write_assets(
    conn: Connection, snap: Snapshot, common: Mapping[str, Any], workload_ids: Mapping[WorkloadKey, int]
) -> None:
    """Write the snapshot's asset allocations, volume samples and load-balancer samples."""
    keys = asset_key_ids(
        conn,
        [
            *(a.key for a in snap.assets),
            *(v.key for v in snap.volumes),
            *(b.key for b in snap.load_balancers),
        ],
    )
    bulk_insert(
        conn,
        table_of(m.AssetAllocation),
        (
            {
                **common,
                "workload_id": workload_ids[a.workload],
                "asset_key_id": keys[a.key],
                "amount": a.amount,
            }
            for a in snap.assets
        ),
    )
    bulk_insert(
        conn,
        table_of(m.VolumeSample),
        (
            {
                **common,
                "volume": v.name,
                "asset_key_id": keys[v.key],
                "capacity_bytes": v.capacity_bytes,
                "phase": v.phase,
                "reclaim_policy": v.reclaim_policy,
                "zone": v.zone,
                "claim_namespace": v.claim_namespace or "",
                "claim_name": v.claim_name or "",
                "claim_requested_bytes": v.claim_requested_bytes,
                "mounted_pods": v.mounted_pods,
            }
            for v in snap.volumes
        ),
    )
    bulk_insert(
        conn,
        table_of(m.LoadBalancerSample),
        (
            {
                **common,
                "namespace": b.namespace,
                "name": b.name,
                "asset_key_id": keys[b.key],
                "selector": b.selector,
                "ingress": b.ingress,
                "selected_pods": b.selected_pods,
            }
            for b in snap.load_balancers
        ),
    )
    bulk_insert(
        conn,
        table_of(m.HpaSample),
        (
            {
                **common,
                "namespace": h.namespace,
                "name": h.name,
                "workload_id": workload_ids[h.workload],
                "min_replicas": h.min_replicas,
                "max_replicas": h.max_replicas,
                "current_replicas": h.current_replicas,
                "desired_replicas": h.desired_replicas,
                "metrics": [asdict(metric) for metric in h.metrics],
            }
            for h in snap.hpas
        ),
    )
