"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_namespaces_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespaces")),
        sa.UniqueConstraint("cluster_id", "name", name="uq_namespaces_cluster_name"),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("instance_type", sa.String(length=128), nullable=True),
        sa.Column("capacity_type", sa.String(length=16), nullable=False),
        sa.Column("zone", sa.String(length=128), nullable=True),
        sa.Column("region", sa.String(length=128), nullable=True),
        sa.Column("node_pool", sa.String(length=253), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_nodes_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("cluster_id", "name", name="uq_nodes_cluster_name"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_seconds", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("usage_known", sa.Boolean(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("pod_count", sa.Integer(), nullable=False),
        sa.Column("pending_pod_count", sa.Integer(), nullable=False),
        sa.Column("container_count", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column(
            "warnings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_snapshots_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("cluster_id", "taken_at", name="uq_snapshots_cluster_taken_at"),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_taken_at", ["taken_at"], unique=False)

    op.create_table(
        "workloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("kind", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_workloads_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workloads")),
        sa.UniqueConstraint("cluster_id", "namespace", "kind", "name", name="uq_workloads_identity"),
    )
    op.create_table(
        "container_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=253), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("cpu_request", sa.Double(), nullable=False),
        sa.Column("memory_request", sa.Double(), nullable=False),
        sa.Column("gpu_request", sa.Double(), nullable=False),
        sa.Column("cpu_limit", sa.Double(), nullable=True),
        sa.Column("memory_limit", sa.Double(), nullable=True),
        sa.Column("usage_replicas", sa.Integer(), nullable=False),
        sa.Column("cpu_usage_sum", sa.Double(), nullable=True),
        sa.Column("memory_usage_sum", sa.Double(), nullable=True),
        sa.Column("cpu_usage_max", sa.Double(), nullable=True),
        sa.Column("memory_usage_max", sa.Double(), nullable=True),
        sa.Column("cpu_allocated", sa.Double(), nullable=False),
        sa.Column("memory_allocated", sa.Double(), nullable=False),
        sa.Column("cpu_cost_hourly", sa.Double(), nullable=False),
        sa.Column("memory_cost_hourly", sa.Double(), nullable=False),
        sa.Column("gpu_cost_hourly", sa.Double(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("oom_kills", sa.Integer(), nullable=False),
        sa.Column("pending_replicas", sa.Integer(), nullable=False),
        sa.Column("pending_cpu_request", sa.Double(), nullable=False),
        sa.Column("pending_memory_request", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_container_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_container_samples_snapshot_id_snapshots")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_container_samples_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "workload_id", "container", name=op.f("pk_container_samples")),
    )
    with op.batch_alter_table("container_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_container_samples_cluster_taken_at", ["cluster_id", "taken_at"], unique=False
        )

    op.create_table(
        "node_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_capacity", sa.Double(), nullable=False),
        sa.Column("memory_capacity", sa.Double(), nullable=False),
        sa.Column("gpu_capacity", sa.Double(), nullable=False),
        sa.Column("cpu_allocatable", sa.Double(), nullable=False),
        sa.Column("memory_allocatable", sa.Double(), nullable=False),
        sa.Column("gpu_allocatable", sa.Double(), nullable=False),
        sa.Column("pods_allocatable", sa.Integer(), nullable=False),
        sa.Column("cpu_requested", sa.Double(), nullable=False),
        sa.Column("memory_requested", sa.Double(), nullable=False),
        sa.Column("gpu_requested", sa.Double(), nullable=False),
        sa.Column("cpu_usage", sa.Double(), nullable=True),
        sa.Column("memory_usage", sa.Double(), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("unschedulable", sa.Boolean(), nullable=False),
        sa.Column("hourly_price", sa.Double(), nullable=False),
        sa.Column("cpu_core_hourly", sa.Double(), nullable=False),
        sa.Column("memory_byte_hourly", sa.Double(), nullable=False),
        sa.Column("gpu_hourly", sa.Double(), nullable=False),
        sa.Column("price_source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_node_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_node_samples_node_id_nodes")),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_node_samples_snapshot_id_snapshots")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "node_id", name=op.f("pk_node_samples")),
    )
    with op.batch_alter_table("node_samples", schema=None) as batch_op:
        batch_op.create_index("ix_node_samples_cluster_taken_at", ["cluster_id", "taken_at"], unique=False)

    op.create_table(
        "pods",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_name", sa.String(length=253), nullable=True),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("cpu_request", sa.Double(), nullable=False),
        sa.Column("memory_request", sa.Double(), nullable=False),
        sa.Column("gpu_request", sa.Double(), nullable=False),
        sa.Column("cpu_usage", sa.Double(), nullable=True),
        sa.Column("memory_usage", sa.Double(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "node_selector",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "required_affinity",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tolerations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("daemonset", sa.Boolean(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("oom_kills", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_pods_cluster_id_clusters")),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_pods_snapshot_id_snapshots")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_pods_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint("cluster_id", "namespace", "name", name=op.f("pk_pods")),
    )
    with op.batch_alter_table("pods", schema=None) as batch_op:
        batch_op.create_index("ix_pods_cluster_node", ["cluster_id", "node_name"], unique=False)

    op.create_table(
        "quota_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("resource", sa.String(length=253), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hard", sa.Double(), nullable=False),
        sa.Column("used", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_quota_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_quota_samples_snapshot_id_snapshots")
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "namespace", "name", "resource", name=op.f("pk_quota_samples")
        ),
    )
    with op.batch_alter_table("quota_samples", schema=None) as batch_op:
        batch_op.create_index("ix_quota_samples_cluster_taken_at", ["cluster_id", "taken_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quota_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_quota_samples_cluster_taken_at")

    op.drop_table("quota_samples")
    with op.batch_alter_table("pods", schema=None) as batch_op:
        batch_op.drop_index("ix_pods_cluster_node")

    op.drop_table("pods")
    with op.batch_alter_table("node_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_node_samples_cluster_taken_at")

    op.drop_table("node_samples")
    with op.batch_alter_table("container_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_container_samples_cluster_taken_at")

    op.drop_table("container_samples")
    op.drop_table("workloads")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_taken_at")

    op.drop_table("snapshots")
    op.drop_table("nodes")
    op.drop_table("namespaces")
    op.drop_table("clusters")
