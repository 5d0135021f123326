"""Add full-text search over current captions and index the existing ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The index and its triggers are dialect specific (FTS5 on SQLite, tsvector + GIN
on PostgreSQL); their SQL lives in :mod:`annotator.library.fts`. A later change
to that SQL needs a new revision that uninstalls and reinstalls the index.
"""

from __future__ import annotations

from alembic import op

from annotator.library import fts

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    fts.for_dialect(bind.dialect.name).install(bind)


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    fts.for_dialect(bind.dialect.name).uninstall(bind)
