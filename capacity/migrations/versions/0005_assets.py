"""the whole bill: volumes and load balancers, by the key their price depends on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

asset_keys (what a volume's or a load balancer's price depends on), asset_allocations (what each
workload held of them per snapshot) and volume_samples / load_balancer_samples (each PV and each
LoadBalancer Service per snapshot), with hourly and daily rollups (asset_rollups,
volume_rollups). Snapshots written before this revision hold no volumes: reports charge them
nothing for storage or load balancers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("storage_class", sa.String(length=253), nullable=True),
        sa.Column("provisioner", sa.String(length=253), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("load_balancer_class", sa.String(length=316), nullable=True),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_asset_keys_digest")),
    )
    op.create_table(
        "volume_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("volume", sa.String(length=253), nullable=False),
        sa.Column("claim_namespace", sa.String(length=253), nullable=False),
        sa.Column("claim_name", sa.String(length=253), nullable=False),
        sa.Column("asset_key_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("capacity_bs", sa.Double(), nullable=False),
        sa.Column("mounted_seconds", sa.Double(), nullable=False),
        sa.Column("unmounted_bs", sa.Double(), nullable=False),
        sa.Column("capacity_bytes_max", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_key_id"], ["asset_keys.id"], name=op.f("fk_volume_rollups_asset_key_id_asset_keys")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_volume_rollups_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint(
            "tier",
            "cluster_id",
            "bucket_start",
            "volume",
            "claim_namespace",
            "claim_name",
            "asset_key_id",
            name=op.f("pk_volume_rollups"),
        ),
    )
    op.create_index("ix_volume_rollups_bucket", "volume_rollups", ["tier", "bucket_start"], unique=False)
    op.create_table(
        "asset_allocations",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("asset_key_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_key_id"], ["asset_keys.id"], name=op.f("fk_asset_allocations_asset_key_id_asset_keys")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_asset_allocations_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_asset_allocations_snapshot_id_snapshots")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_asset_allocations_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "workload_id", "asset_key_id", name=op.f("pk_asset_allocations")
        ),
    )
    op.create_index(
        "ix_asset_allocations_cluster_taken_at", "asset_allocations", ["cluster_id", "taken_at"], unique=False
    )
    op.create_table(
        "asset_rollups",
        sa.Column("tier", sa.String(length=4), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("asset_key_id", sa.Integer(), nullable=False),
        sa.Column("amount_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_key_id"], ["asset_keys.id"], name=op.f("fk_asset_rollups_asset_key_id_asset_keys")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_asset_rollups_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_asset_rollups_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint(
            "tier", "cluster_id", "bucket_start", "workload_id", "asset_key_id", name=op.f("pk_asset_rollups")
        ),
    )
    op.create_index("ix_asset_rollups_bucket", "asset_rollups", ["tier", "bucket_start"], unique=False)
    op.create_table(
        "load_balancer_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asset_key_id", sa.Integer(), nullable=False),
        sa.Column(
            "selector",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ingress",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("selected_pods", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_key_id"], ["asset_keys.id"], name=op.f("fk_load_balancer_samples_asset_key_id_asset_keys")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_load_balancer_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_load_balancer_samples_snapshot_id_snapshots")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "namespace", "name", name=op.f("pk_load_balancer_samples")),
    )
    op.create_index(
        "ix_load_balancer_samples_cluster_taken_at",
        "load_balancer_samples",
        ["cluster_id", "taken_at"],
        unique=False,
    )
    op.create_table(
        "volume_samples",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("volume", sa.String(length=253), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asset_key_id", sa.Integer(), nullable=False),
        sa.Column("capacity_bytes", sa.Double(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("reclaim_policy", sa.String(length=32), nullable=True),
        sa.Column("zone", sa.String(length=128), nullable=True),
        sa.Column("claim_namespace", sa.String(length=253), nullable=False),
        sa.Column("claim_name", sa.String(length=253), nullable=False),
        sa.Column("claim_requested_bytes", sa.Double(), nullable=True),
        sa.Column("mounted_pods", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_key_id"], ["asset_keys.id"], name=op.f("fk_volume_samples_asset_key_id_asset_keys")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_volume_samples_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshots.id"], name=op.f("fk_volume_samples_snapshot_id_snapshots")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "volume", name=op.f("pk_volume_samples")),
    )
    op.create_index(
        "ix_volume_samples_cluster_taken_at", "volume_samples", ["cluster_id", "taken_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_volume_samples_cluster_taken_at", table_name="volume_samples")
    op.drop_table("volume_samples")
    op.drop_index("ix_load_balancer_samples_cluster_taken_at", table_name="load_balancer_samples")
    op.drop_table("load_balancer_samples")
    op.drop_index("ix_asset_rollups_bucket", table_name="asset_rollups")
    op.drop_table("asset_rollups")
    op.drop_index("ix_asset_allocations_cluster_taken_at", table_name="asset_allocations")
    op.drop_table("asset_allocations")
    op.drop_index("ix_volume_rollups_bucket", table_name="volume_rollups")
    op.drop_table("volume_rollups")
    op.drop_table("asset_keys")
