"""Index photo paths for prefix matching (PostgreSQL only): the search's folder filter.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A search with a folder keeps the photos whose path starts with the folder. On
PostgreSQL the filter is ``path LIKE 'folder/%'`` (wildcards in the folder
escaped); the unique index on ``path`` cannot serve it unless the database's
collation is "C", so this revision adds a ``text_pattern_ops`` index, which
compares character by character whatever the collation. SQLite is unchanged: its
LIKE ignores case, so the search keeps an exact comparison there. The SQL is frozen
here: this file imports no live annotator code.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CREATE = "CREATE INDEX ix_photos_path_prefix ON photos (path text_pattern_ops)"
DROP = "DROP INDEX IF EXISTS ix_photos_path_prefix"


def upgrade() -> None:
    """Apply this revision (PostgreSQL: add the index; SQLite: nothing)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(CREATE)


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(DROP)
