"""Usage histograms of all of a workload container's replicas together (CPU and memory)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

container_samples and container_rollups gain cpu_total_hist and memory_total_hist: the
distribution over time of the usage the HPA sees, what HPA-aware right-sizing projects replicas
from. Rows written before this revision hold empty ones: their windows project no replicas.
Added columns only (SQLite's ALTER TABLE ADD COLUMN): no table is rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("container_samples", "container_rollups")
_COLUMNS = ("cpu_total_hist", "memory_total_hist")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in _COLUMNS:
                batch_op.add_column(
                    sa.Column(
                        name,
                        sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                        server_default="{}",
                        nullable=False,
                    )
                )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in _COLUMNS:
                batch_op.drop_column(name)
