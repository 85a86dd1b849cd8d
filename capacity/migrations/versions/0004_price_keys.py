"""price keys: the quantities the cost rule prices, so reports can price history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Node samples point to the price key of their node (what its price depends on), and
container_allocations hold what each container was allocated on nodes of each key; hourly and
daily rollups of both (allocation_rollups, node_price_rollups, cluster_price_rollups). Rows
written before this revision have no price key: they keep the money stored with them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=600), nullable=False),
        sa.Column("instance_type", sa.String(length=128), nullable=True),
        sa.Column("capacity_type", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=True),
        sa.Column("override_hourly", sa.Double(), nullable=True),
        sa.Column("cpu_capacity", sa.Double(), nullable=False),
        sa.Column("memory_capacity", sa.Double(), nullable=False),
        sa.Column("gpu_capacity", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_price_keys_digest")),
    )
    op.create_table(
        "cluster_price_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price_key_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("cpu_capacity_cs", sa.Double(), nullable=False),
        sa.Column("memory_capacity_bs", sa.Double(), nullable=False),
        sa.Column("gpu_capacity_s", sa.Double(), nullable=False),
        sa.Column("cpu_idle_cs", sa.Double(), nullable=False),
        sa.Column("memory_idle_bs", sa.Double(), nullable=False),
        sa.Column("gpu_idle_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_price_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["price_key_id"], ["price_keys.id"], name=op.f("fk_cluster_price_rollups_price_key_id_price_keys")
        ),
        sa.PrimaryKeyConstraint(
            "tier", "cluster_id", "bucket_start", "price_key_id", name=op.f("pk_cluster_price_rollups")
        ),
    )
    op.create_table(
        "allocation_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=253), nullable=False),
        sa.Column("price_key_id", sa.Integer(), nullable=False),
        sa.Column("cpu_allocated_cs", sa.Double(), nullable=False),
        sa.Column("memory_allocated_bs", sa.Double(), nullable=False),
        sa.Column("gpu_allocated_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_allocation_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["price_key_id"], ["price_keys.id"], name=op.f("fk_allocation_rollups_price_key_id_price_keys")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_allocation_rollups_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint(
            "tier",
            "cluster_id",
            "bucket_start",
            "workload_id",
            "container",
            "price_key_id",
            name=op.f("pk_allocation_rollups"),
        ),
    )
    op.create_index(
        "ix_allocation_rollups_bucket", "allocation_rollups", ["tier", "bucket_start"], unique=False
    )
    op.create_table(
        "container_allocations",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=253), nullable=False),
        sa.Column("price_key_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_allocated", sa.Double(), nullable=False),
        sa.Column("memory_allocated", sa.Double(), nullable=False),
        sa.Column("gpu_allocated", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_container_allocations_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["price_key_id"], ["price_keys.id"], name=op.f("fk_container_allocations_price_key_id_price_keys")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_container_allocations_snapshot_id_snapshots")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_container_allocations_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "workload_id", "container", "price_key_id", name=op.f("pk_container_allocations")
        ),
    )
    op.create_index(
        "ix_container_allocations_cluster_taken_at",
        "container_allocations",
        ["cluster_id", "taken_at"],
        unique=False,
    )
    op.create_table(
        "node_price_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("price_key_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("cpu_capacity_cs", sa.Double(), nullable=False),
        sa.Column("memory_capacity_bs", sa.Double(), nullable=False),
        sa.Column("gpu_capacity_s", sa.Double(), nullable=False),
        sa.Column("cpu_idle_cs", sa.Double(), nullable=False),
        sa.Column("memory_idle_bs", sa.Double(), nullable=False),
        sa.Column("gpu_idle_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_node_price_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_node_price_rollups_node_id_nodes")),
        sa.ForeignKeyConstraint(
            ["price_key_id"], ["price_keys.id"], name=op.f("fk_node_price_rollups_price_key_id_price_keys")
        ),
        sa.PrimaryKeyConstraint(
            "tier",
            "cluster_id",
            "bucket_start",
            "node_id",
            "price_key_id",
            name=op.f("pk_node_price_rollups"),
        ),
    )
    op.create_index(
        "ix_node_price_rollups_bucket", "node_price_rollups", ["tier", "bucket_start"], unique=False
    )
    op.add_column("node_samples", sa.Column("price_key_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("node_samples", "price_key_id")
    op.drop_index("ix_node_price_rollups_bucket", table_name="node_price_rollups")
    op.drop_table("node_price_rollups")
    op.drop_index("ix_container_allocations_cluster_taken_at", table_name="container_allocations")
    op.drop_table("container_allocations")
    op.drop_index("ix_allocation_rollups_bucket", table_name="allocation_rollups")
    op.drop_table("allocation_rollups")
    op.drop_table("cluster_price_rollups")
    op.drop_table("price_keys")
