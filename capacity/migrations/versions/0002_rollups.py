"""allocation, overcommit, usage histograms, rollups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_watermarks",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("complete_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_rollup_watermarks_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("cluster_id", "tier", name=op.f("pk_rollup_watermarks")),
    )
    op.create_table(
        "container_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=253), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("replica_seconds", sa.Double(), nullable=False),
        sa.Column("cpu_request_cs", sa.Double(), nullable=False),
        sa.Column("memory_request_bs", sa.Double(), nullable=False),
        sa.Column("gpu_request_s", sa.Double(), nullable=False),
        sa.Column("usage_replica_seconds", sa.Double(), nullable=False),
        sa.Column("cpu_usage_cs", sa.Double(), nullable=False),
        sa.Column("memory_usage_bs", sa.Double(), nullable=False),
        sa.Column("cpu_request_known_cs", sa.Double(), nullable=False),
        sa.Column("memory_request_known_bs", sa.Double(), nullable=False),
        sa.Column("cpu_allocated_cs", sa.Double(), nullable=False),
        sa.Column("memory_allocated_bs", sa.Double(), nullable=False),
        sa.Column("cpu_cost", sa.Double(), nullable=False),
        sa.Column("memory_cost", sa.Double(), nullable=False),
        sa.Column("gpu_cost", sa.Double(), nullable=False),
        sa.Column("cpu_usage_max", sa.Double(), nullable=True),
        sa.Column("memory_usage_max", sa.Double(), nullable=True),
        sa.Column("memory_limit_max", sa.Double(), nullable=True),
        sa.Column("restarts_max", sa.Integer(), nullable=False),
        sa.Column("oom_kills_max", sa.Integer(), nullable=False),
        sa.Column("pending_replica_seconds", sa.Double(), nullable=False),
        sa.Column("pending_cpu_cs", sa.Double(), nullable=False),
        sa.Column("pending_memory_bs", sa.Double(), nullable=False),
        sa.Column(
            "cpu_usage_hist",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_container_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_container_rollups_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint(
            "tier",
            "cluster_id",
            "bucket_start",
            "workload_id",
            "container",
            name=op.f("pk_container_rollups"),
        ),
    )
    with op.batch_alter_table("container_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_container_rollups_bucket", ["tier", "bucket_start"], unique=False)

    op.create_table(
        "node_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("cpu_capacity_cs", sa.Double(), nullable=False),
        sa.Column("memory_capacity_bs", sa.Double(), nullable=False),
        sa.Column("gpu_capacity_s", sa.Double(), nullable=False),
        sa.Column("cpu_allocatable_cs", sa.Double(), nullable=False),
        sa.Column("memory_allocatable_bs", sa.Double(), nullable=False),
        sa.Column("cpu_requested_cs", sa.Double(), nullable=False),
        sa.Column("memory_requested_bs", sa.Double(), nullable=False),
        sa.Column("gpu_requested_s", sa.Double(), nullable=False),
        sa.Column("usage_seconds", sa.Double(), nullable=False),
        sa.Column("cpu_usage_cs", sa.Double(), nullable=False),
        sa.Column("memory_usage_bs", sa.Double(), nullable=False),
        sa.Column("cpu_allocated_cs", sa.Double(), nullable=False),
        sa.Column("memory_allocated_bs", sa.Double(), nullable=False),
        sa.Column("cpu_overcommit_cs", sa.Double(), nullable=False),
        sa.Column("memory_overcommit_bs", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("cpu_cost", sa.Double(), nullable=False),
        sa.Column("memory_cost", sa.Double(), nullable=False),
        sa.Column("gpu_cost", sa.Double(), nullable=False),
        sa.Column("cpu_idle_cost", sa.Double(), nullable=False),
        sa.Column("memory_idle_cost", sa.Double(), nullable=False),
        sa.Column("gpu_idle_cost", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_node_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_node_rollups_node_id_nodes")),
        sa.PrimaryKeyConstraint(
            "tier", "cluster_id", "bucket_start", "node_id", name=op.f("pk_node_rollups")
        ),
    )
    with op.batch_alter_table("node_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_node_rollups_bucket", ["tier", "bucket_start"], unique=False)

    with op.batch_alter_table("container_samples", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cpu_usage_hist",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )

    with op.batch_alter_table("node_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cpu_allocated", sa.Double(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("memory_allocated", sa.Double(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cpu_overcommit", sa.Double(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("memory_overcommit", sa.Double(), server_default="0", nullable=False))

    # Snapshots written before allocation was stored: their allocation is at least the requests.
    op.execute("UPDATE node_samples SET cpu_allocated = cpu_requested, memory_allocated = memory_requested")


def downgrade() -> None:
    with op.batch_alter_table("node_samples", schema=None) as batch_op:
        batch_op.drop_column("memory_overcommit")
        batch_op.drop_column("cpu_overcommit")
        batch_op.drop_column("memory_allocated")
        batch_op.drop_column("cpu_allocated")

    with op.batch_alter_table("container_samples", schema=None) as batch_op:
        batch_op.drop_column("cpu_usage_hist")

    with op.batch_alter_table("node_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_node_rollups_bucket")

    op.drop_table("node_rollups")
    with op.batch_alter_table("container_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_container_rollups_bucket")

    op.drop_table("container_rollups")
    op.drop_table("rollup_watermarks")
