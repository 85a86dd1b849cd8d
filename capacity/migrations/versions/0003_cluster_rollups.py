"""cluster rollups: node sums per cluster and bucket

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Backfilled from the node rollups already written. ``seconds`` (the seconds the cluster's
snapshots stand for) is taken there as the longest node's seconds in the bucket: exact when a
node lived through the bucket, which every node pool's oldest node usually does; buckets rolled
from now on compute it from the snapshots themselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = [
    "samples",
    "seconds",
    "node_seconds",
    "cpu_capacity_cs",
    "memory_capacity_bs",
    "gpu_capacity_s",
    "cpu_allocatable_cs",
    "memory_allocatable_bs",
    "cpu_requested_cs",
    "memory_requested_bs",
    "gpu_requested_s",
    "usage_seconds",
    "cpu_usage_cs",
    "memory_usage_bs",
    "cpu_allocated_cs",
    "memory_allocated_bs",
    "cpu_overcommit_cs",
    "memory_overcommit_bs",
    "cost",
    "cpu_cost",
    "memory_cost",
    "gpu_cost",
    "cpu_idle_cost",
    "memory_idle_cost",
    "gpu_idle_cost",
]

# node_seconds sums the nodes' seconds; seconds is the longest node's (see above)
_BACKFILL = {"seconds": "MAX(seconds)", "node_seconds": "SUM(seconds)"}


def upgrade() -> None:
    op.create_table(
        "cluster_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("node_seconds", sa.Double(), nullable=False),
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
            ["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_rollups_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("tier", "cluster_id", "bucket_start", name=op.f("pk_cluster_rollups")),
    )
    op.execute(
        "INSERT INTO cluster_rollups (tier, cluster_id, bucket_start, " + ", ".join(COLUMNS) + ") "
        "SELECT tier, cluster_id, bucket_start, "
        + ", ".join(_BACKFILL.get(c, f"SUM({c})") for c in COLUMNS)
        + " "
        "FROM node_rollups GROUP BY tier, cluster_id, bucket_start"
    )


def downgrade() -> None:
    op.drop_table("cluster_rollups")
