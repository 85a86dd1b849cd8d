"""HorizontalPodAutoscalers: one row per HPA per snapshot, with the workload it scales

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

hpa_samples: bounds, current and desired replicas and the metrics an HPA scales on (what
HPA-aware right-sizing reads). Snapshots written before this revision hold no HPAs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hpa_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("current_replicas", sa.Integer(), nullable=True),
        sa.Column("desired_replicas", sa.Integer(), nullable=True),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_hpa_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_hpa_samples_snapshot_id_snapshots")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_hpa_samples_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "namespace", "name", name=op.f("pk_hpa_samples")),
    )
    op.create_index(
        "ix_hpa_samples_cluster_taken_at", "hpa_samples", ["cluster_id", "taken_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_hpa_samples_cluster_taken_at", table_name="hpa_samples")
    op.drop_table("hpa_samples")
