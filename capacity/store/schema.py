"""The schema: SQLAlchemy 2.x typed models, one schema for SQLite and PostgreSQL.

Units: CPU in cores, memory in bytes, GPUs in devices, money per hour in the configured
currency, timestamps UTC. Every fact table carries ``cluster_id`` and ``taken_at`` so that
PostgreSQL can partition it by time and Citus can shard it by cluster without a change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        float: Double(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime]


class Snapshot(Base):
    """One collection of one cluster at one instant."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("cluster_id", "taken_at", name="uq_snapshots_cluster_taken_at"),
        Index("ix_snapshots_taken_at", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    # Seconds this snapshot stands for: time since the cluster's previous snapshot,
    # capped at twice the nominal interval so an outage does not invent cost.
    interval_seconds: Mapped[float]
    source: Mapped[str] = mapped_column(String(32))
    usage_known: Mapped[bool] = mapped_column(Boolean)
    node_count: Mapped[int]
    pod_count: Mapped[int]  # pods holding resources (bound to a node, not finished)
    pending_pod_count: Mapped[int]  # unscheduled pods: unmet demand
    container_count: Mapped[int]
    duration_seconds: Mapped[float]
    warnings: Mapped[list[Any]]


class Namespace(Base):
    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_namespaces_cluster_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    name: Mapped[str] = mapped_column(String(253))
    labels: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]


class Workload(Base):
    __tablename__ = "workloads"
    __table_args__ = (
        UniqueConstraint("cluster_id", "namespace", "kind", "name", name="uq_workloads_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    namespace: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    labels: Mapped[dict[str, Any]]  # pod labels of its latest replica
    first_seen_at: Mapped[datetime]


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_nodes_cluster_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    name: Mapped[str] = mapped_column(String(253))
    instance_type: Mapped[str | None] = mapped_column(String(128))
    capacity_type: Mapped[str] = mapped_column(String(16))
    zone: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(128))
    node_pool: Mapped[str | None] = mapped_column(String(253))
    labels: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    taints: Mapped[list[Any]] = mapped_column(server_default="[]")  # as of its newest snapshot


class PriceKeyRow(Base):
    """What a node's price depends on (``capacity.records.PriceKey``): one row per distinct key.

    Node samples and container allocations point here, so a report prices history with the
    prices of its own configuration (``capacity.costing``); ``digest`` is the key's canonical text.
    """

    __tablename__ = "price_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(600), unique=True)
    instance_type: Mapped[str | None] = mapped_column(String(128))
    capacity_type: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(128))
    override_hourly: Mapped[float | None]
    cpu_capacity: Mapped[float]
    memory_capacity: Mapped[float]
    gpu_capacity: Mapped[float]


class NodeSample(Base):
    """One node in one snapshot: what it offers, what is reserved on it, what it uses, its price."""

    __tablename__ = "node_samples"
    __table_args__ = (Index("ix_node_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    cpu_capacity: Mapped[float]
    memory_capacity: Mapped[float]
    gpu_capacity: Mapped[float]
    cpu_allocatable: Mapped[float]
    memory_allocatable: Mapped[float]
    gpu_allocatable: Mapped[float]
    pods_allocatable: Mapped[int]
    cpu_requested: Mapped[float]
    memory_requested: Mapped[float]
    gpu_requested: Mapped[float]
    cpu_usage: Mapped[float | None]
    memory_usage: Mapped[float | None]
    ready: Mapped[bool] = mapped_column(Boolean)
    unschedulable: Mapped[bool] = mapped_column(Boolean)
    hourly_price: Mapped[float]
    cpu_core_hourly: Mapped[float]
    memory_byte_hourly: Mapped[float]
    gpu_hourly: Mapped[float]
    price_source: Mapped[str] = mapped_column(String(16))
    # sum over its containers of max(request, usage), never above capacity; the cut is overcommit
    cpu_allocated: Mapped[float] = mapped_column(server_default="0")
    memory_allocated: Mapped[float] = mapped_column(server_default="0")
    cpu_overcommit: Mapped[float] = mapped_column(server_default="0")
    memory_overcommit: Mapped[float] = mapped_column(server_default="0")
    # What its price depends on; NULL for samples written before price keys (they keep the money
    # stored with them). No foreign key: adding one to a big SQLite table means rebuilding it.
    price_key_id: Mapped[int | None] = mapped_column(Integer)


class ContainerSample(Base):
    """One (workload, container) in one snapshot, summed over the replicas bound to nodes."""

    __tablename__ = "container_samples"
    __table_args__ = (Index("ix_container_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    container: Mapped[str] = mapped_column(String(253), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    replicas: Mapped[int]
    cpu_request: Mapped[float]
    memory_request: Mapped[float]
    gpu_request: Mapped[float]
    cpu_limit: Mapped[float | None]
    memory_limit: Mapped[float | None]
    usage_replicas: Mapped[int]
    cpu_usage_sum: Mapped[float | None]
    memory_usage_sum: Mapped[float | None]
    cpu_usage_max: Mapped[float | None]
    memory_usage_max: Mapped[float | None]
    cpu_allocated: Mapped[float]
    memory_allocated: Mapped[float]
    cpu_cost_hourly: Mapped[float]
    memory_cost_hourly: Mapped[float]
    gpu_cost_hourly: Mapped[float]
    restarts: Mapped[int]
    oom_kills: Mapped[int]
    pending_replicas: Mapped[int]
    pending_cpu_request: Mapped[float]
    pending_memory_request: Mapped[float]
    cpu_usage_hist: Mapped[dict[str, Any]] = mapped_column(server_default="{}")  # {bucket: replicas}
    # the usage of all replicas together, one bucket of weight 1 (see capacity.histogram)
    cpu_total_hist: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    memory_total_hist: Mapped[dict[str, Any]] = mapped_column(server_default="{}")


class ContainerAllocation(Base):
    """What one (workload, container) was allocated in one snapshot on nodes of one price key.

    max(request, usage) per replica, usage beyond requests scaled into its node's room: the
    quantities the cost rule prices (``capacity.costing``), summed over the replicas.
    """

    __tablename__ = "container_allocations"
    __table_args__ = (Index("ix_container_allocations_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    container: Mapped[str] = mapped_column(String(253), primary_key=True)
    price_key_id: Mapped[int] = mapped_column(ForeignKey("price_keys.id"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    cpu_allocated: Mapped[float]
    memory_allocated: Mapped[float]
    gpu_allocated: Mapped[float]


class QuotaSample(Base):
    __tablename__ = "quota_samples"
    __table_args__ = (Index("ix_quota_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    resource: Mapped[str] = mapped_column(String(253), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    hard: Mapped[float]
    used: Mapped[float | None]


class AssetKeyRow(Base):
    """What the price of a volume or a load balancer depends on (``capacity.records.AssetKey``)."""

    __tablename__ = "asset_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(2000), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # volume | load_balancer
    storage_class: Mapped[str | None] = mapped_column(String(253))
    provisioner: Mapped[str | None] = mapped_column(String(253))
    parameters: Mapped[dict[str, Any]]  # the StorageClass's parameters
    load_balancer_class: Mapped[str | None] = mapped_column(String(316))
    local: Mapped[bool] = mapped_column(Boolean)


class AssetAllocation(Base):
    """What a workload held of volumes (bytes) or load balancers (a count) of one key in one
    snapshot; claims no pod mounts, Services selecting no pod and claimless volumes are held
    by workloads of kind PersistentVolumeClaim, Service and PersistentVolume."""

    __tablename__ = "asset_allocations"
    __table_args__ = (Index("ix_asset_allocations_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    asset_key_id: Mapped[int] = mapped_column(ForeignKey("asset_keys.id"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    amount: Mapped[float]


class VolumeSample(Base):
    """One PersistentVolume in one snapshot (``claim_*`` empty: no claim)."""

    __tablename__ = "volume_samples"
    __table_args__ = (Index("ix_volume_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    volume: Mapped[str] = mapped_column(String(253), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    asset_key_id: Mapped[int] = mapped_column(ForeignKey("asset_keys.id"))
    capacity_bytes: Mapped[float]
    phase: Mapped[str] = mapped_column(String(32))
    reclaim_policy: Mapped[str | None] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(128))
    claim_namespace: Mapped[str] = mapped_column(String(253))
    claim_name: Mapped[str] = mapped_column(String(253))
    claim_requested_bytes: Mapped[float | None]
    mounted_pods: Mapped[int]


class LoadBalancerSample(Base):
    """One Service of type LoadBalancer in one snapshot."""

    __tablename__ = "load_balancer_samples"
    __table_args__ = (Index("ix_load_balancer_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    asset_key_id: Mapped[int] = mapped_column(ForeignKey("asset_keys.id"))
    selector: Mapped[dict[str, Any]]
    ingress: Mapped[list[Any]]
    selected_pods: Mapped[int]


class HpaSample(Base):
    """One HorizontalPodAutoscaler in one snapshot: the workload it scales, bounds, replicas, metrics."""

    __tablename__ = "hpa_samples"
    __table_args__ = (Index("ix_hpa_samples_cluster_taken_at", "cluster_id", "taken_at"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    taken_at: Mapped[datetime]
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"))
    min_replicas: Mapped[int]
    max_replicas: Mapped[int]
    current_replicas: Mapped[int | None]
    desired_replicas: Mapped[int | None]
    metrics: Mapped[list[Any]]  # [{type, name, target_type, target}]


class Pod(Base):
    """Latest snapshot per cluster at pod grain: which pod on which node, and what pins it."""

    __tablename__ = "pods"
    __table_args__ = (Index("ix_pods_cluster_node", "cluster_id", "node_name"),)

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    taken_at: Mapped[datetime]
    node_name: Mapped[str | None] = mapped_column(String(253))
    phase: Mapped[str] = mapped_column(String(32))
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"))
    cpu_request: Mapped[float]
    memory_request: Mapped[float]
    gpu_request: Mapped[float]
    cpu_usage: Mapped[float | None]
    memory_usage: Mapped[float | None]
    priority: Mapped[int]
    node_selector: Mapped[dict[str, Any]]
    required_affinity: Mapped[list[Any]]
    tolerations: Mapped[list[Any]]
    daemonset: Mapped[bool] = mapped_column(Boolean)
    restarts: Mapped[int]
    oom_kills: Mapped[int]
    repels_own: Mapped[bool] = mapped_column(Boolean, server_default=false())
    zone_skew: Mapped[int | None]


class ContainerRollup(Base):
    """Container samples summed per hour or per day (``tier``); sums are weighted by seconds.

    ``*_cs`` are core-seconds, ``*_bs`` byte-seconds, ``*_s`` device-seconds; costs are money.
    ``*_known_*`` sums cover only samples whose usage was known, for efficiency ratios.
    """

    __tablename__ = "container_rollups"
    __table_args__ = (Index("ix_container_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    container: Mapped[str] = mapped_column(String(253), primary_key=True)
    samples: Mapped[int]
    seconds: Mapped[float]
    replica_seconds: Mapped[float]
    cpu_request_cs: Mapped[float]
    memory_request_bs: Mapped[float]
    gpu_request_s: Mapped[float]
    usage_replica_seconds: Mapped[float]
    cpu_usage_cs: Mapped[float]
    memory_usage_bs: Mapped[float]
    cpu_request_known_cs: Mapped[float]
    memory_request_known_bs: Mapped[float]
    cpu_allocated_cs: Mapped[float]
    memory_allocated_bs: Mapped[float]
    cpu_cost: Mapped[float]
    memory_cost: Mapped[float]
    gpu_cost: Mapped[float]
    cpu_usage_max: Mapped[float | None]
    memory_usage_max: Mapped[float | None]
    memory_limit_max: Mapped[float | None]  # per replica
    restarts_max: Mapped[int]
    oom_kills_max: Mapped[int]
    pending_replica_seconds: Mapped[float]
    pending_cpu_cs: Mapped[float]
    pending_memory_bs: Mapped[float]
    cpu_usage_hist: Mapped[dict[str, Any]]  # {bucket: replica-seconds}
    cpu_total_hist: Mapped[dict[str, Any]] = mapped_column(server_default="{}")  # {bucket: seconds}
    memory_total_hist: Mapped[dict[str, Any]] = mapped_column(server_default="{}")  # {bucket: seconds}


class _NodeSums:
    """The node sums a rollup holds per bucket (node rollups per node, cluster rollups per cluster).

    ``*_cs`` core-seconds, ``*_bs`` byte-seconds, ``*_s`` device-seconds, costs in money; idle is
    summed per sample, never negative; ``usage_seconds`` covers the samples whose usage was known.
    """

    cpu_capacity_cs: Mapped[float]
    memory_capacity_bs: Mapped[float]
    gpu_capacity_s: Mapped[float]
    cpu_allocatable_cs: Mapped[float]
    memory_allocatable_bs: Mapped[float]
    cpu_requested_cs: Mapped[float]
    memory_requested_bs: Mapped[float]
    gpu_requested_s: Mapped[float]
    usage_seconds: Mapped[float]
    cpu_usage_cs: Mapped[float]
    memory_usage_bs: Mapped[float]
    cpu_allocated_cs: Mapped[float]
    memory_allocated_bs: Mapped[float]
    cpu_overcommit_cs: Mapped[float]
    memory_overcommit_bs: Mapped[float]
    cost: Mapped[float]
    cpu_cost: Mapped[float]
    memory_cost: Mapped[float]
    gpu_cost: Mapped[float]
    cpu_idle_cost: Mapped[float]
    memory_idle_cost: Mapped[float]
    gpu_idle_cost: Mapped[float]


class NodeRollup(_NodeSums, Base):
    """Node samples summed per hour or per day; idle is summed per sample, never negative."""

    __tablename__ = "node_rollups"
    __table_args__ = (Index("ix_node_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    samples: Mapped[int]
    seconds: Mapped[float]


class ClusterRollup(_NodeSums, Base):
    """Node samples summed over a cluster's nodes per hour or per day: what cost reports need.

    A team report needs only each cluster's idle cost and covered seconds, and a fleet chart its
    totals; this tier serves them from one row per cluster and bucket instead of one per node.
    ``samples`` counts node samples; ``usage_seconds`` is summed over nodes like ``node_seconds``.
    """

    __tablename__ = "cluster_rollups"

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    samples: Mapped[int]
    seconds: Mapped[float]  # seconds the cluster's snapshots stand for (not per node)
    node_seconds: Mapped[float]  # summed over nodes: node_seconds / seconds = average nodes


class AllocationRollup(Base):
    """Container allocations summed per hour or per day, by price key (core-, byte-, device-seconds)."""

    __tablename__ = "allocation_rollups"
    __table_args__ = (Index("ix_allocation_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    container: Mapped[str] = mapped_column(String(253), primary_key=True)
    price_key_id: Mapped[int] = mapped_column(ForeignKey("price_keys.id"), primary_key=True)
    cpu_allocated_cs: Mapped[float]
    memory_allocated_bs: Mapped[float]
    gpu_allocated_s: Mapped[float]


class _PricedSums:
    """Node sums by price key: what is priced (capacity) and what of it sat idle, per resource.

    Idle is max(capacity - allocated, 0) per node and sample (GPUs: capacity - requested).
    """

    seconds: Mapped[float]
    cpu_capacity_cs: Mapped[float]
    memory_capacity_bs: Mapped[float]
    gpu_capacity_s: Mapped[float]
    cpu_idle_cs: Mapped[float]
    memory_idle_bs: Mapped[float]
    gpu_idle_s: Mapped[float]


class NodePriceRollup(_PricedSums, Base):
    """Per node and price key: its priced sums per hour or per day."""

    __tablename__ = "node_price_rollups"
    __table_args__ = (Index("ix_node_price_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    price_key_id: Mapped[int] = mapped_column(ForeignKey("price_keys.id"), primary_key=True)


class ClusterPriceRollup(_PricedSums, Base):
    """Per cluster and price key: its nodes' priced sums per hour or per day (``seconds``: node-seconds)."""

    __tablename__ = "cluster_price_rollups"

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    price_key_id: Mapped[int] = mapped_column(ForeignKey("price_keys.id"), primary_key=True)


class AssetRollup(Base):
    """Asset allocations summed per hour or per day: byte-seconds of volumes, load-balancer-seconds."""

    __tablename__ = "asset_rollups"
    __table_args__ = (Index("ix_asset_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    asset_key_id: Mapped[int] = mapped_column(ForeignKey("asset_keys.id"), primary_key=True)
    amount_s: Mapped[float]


class VolumeRollup(Base):
    """Volume samples summed per hour or per day: provisioned and unmounted byte-seconds."""

    __tablename__ = "volume_rollups"
    __table_args__ = (Index("ix_volume_rollups_bucket", "tier", "bucket_start"),)

    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    volume: Mapped[str] = mapped_column(String(253), primary_key=True)
    claim_namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    claim_name: Mapped[str] = mapped_column(String(253), primary_key=True)
    asset_key_id: Mapped[int] = mapped_column(ForeignKey("asset_keys.id"), primary_key=True)
    seconds: Mapped[float]
    capacity_bs: Mapped[float]
    mounted_seconds: Mapped[float]
    unmounted_bs: Mapped[float]
    capacity_bytes_max: Mapped[float]


class RollupWatermark(Base):
    """Per cluster and tier: every bucket before ``complete_until`` is rolled up.

    Final, except that an hour a snapshot joins late is rolled again (with its day) while its
    raw rows are all kept (see ``capacity.store.compaction.compact``).
    """

    __tablename__ = "rollup_watermarks"

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(4), primary_key=True)
    complete_until: Mapped[datetime]
