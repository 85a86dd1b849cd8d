"""What pins a pod and what repels it: node taints, pod anti-affinity and zone spread

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

nodes.taints (as of the node's newest snapshot); pods.repels_own (required pod anti-affinity on
the hostname against pods like itself) and pods.zone_skew (the maxSkew of a DoNotSchedule
topology spread over zones): what constraint-aware bin-packing reads. Rows written before this
revision hold none: their pods pack as unconstrained by them until the next collection.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "taints",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )
    with op.batch_alter_table("pods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repels_own", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("zone_skew", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pods", schema=None) as batch_op:
        batch_op.drop_column("zone_skew")
        batch_op.drop_column("repels_own")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("taints")
