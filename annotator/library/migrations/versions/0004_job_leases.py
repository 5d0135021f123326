"""Give running jobs an owner and a lease; mark auto-paused roots and pending writes.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03

``jobs.owner`` / ``jobs.lease_until``: several indexers (GUI, CLI, machines sharing a
PostgreSQL library) take back only expired claims instead of each other's jobs.
``roots.auto_paused``: a root paused because it was unreachable resumes by itself.
``photos.write_pending``: the caption is stored but writing it into the photo failed.
The SQL is frozen here: this file imports no live annotator code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (plain ADD COLUMN: no table is rebuilt, triggers stay)."""
    op.add_column("jobs", sa.Column("owner", sa.String(length=128), nullable=True))
    op.add_column("jobs", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "roots", sa.Column("auto_paused", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "photos",
        sa.Column("write_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("write_pending")
    with op.batch_alter_table("roots") as batch:
        batch.drop_column("auto_paused")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
