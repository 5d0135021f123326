"""Add full-text search over current captions and index the existing ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The index and its triggers are dialect specific: FTS5 on SQLite, tsvector + GIN on
PostgreSQL. The SQL is frozen here as it was when this revision was written (it
imports no live code); :mod:`annotator.library.fts` holds the same statements for
the running code. A later change to the index needs a new revision that drops and
recreates it.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = (
    "CREATE VIEW current_captions AS SELECT id, text FROM captions WHERE is_current",
    "CREATE VIRTUAL TABLE captions_fts USING fts5(text, content='current_captions', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
    """CREATE TRIGGER captions_ai AFTER INSERT ON captions WHEN new.is_current BEGIN
        INSERT INTO captions_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER captions_ad AFTER DELETE ON captions WHEN old.is_current BEGIN
        INSERT INTO captions_fts(captions_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions BEGIN
        INSERT INTO captions_fts(captions_fts, rowid, text)
            SELECT 'delete', old.id, old.text WHERE old.is_current;
        INSERT INTO captions_fts(rowid, text) SELECT new.id, new.text WHERE new.is_current;
    END""",
    "INSERT INTO captions_fts(captions_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS captions_ai",
    "DROP TRIGGER IF EXISTS captions_ad",
    "DROP TRIGGER IF EXISTS captions_au",
    "DROP TABLE IF EXISTS captions_fts",
    "DROP VIEW IF EXISTS current_captions",
)

POSTGRES_UP = (
    """CREATE TABLE captions_fts (
        rowid integer PRIMARY KEY REFERENCES captions (id) ON DELETE CASCADE,
        tsv tsvector NOT NULL
    )""",
    "CREATE INDEX captions_fts_tsv ON captions_fts USING gin (tsv)",
    """CREATE FUNCTION captions_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_current THEN
            DELETE FROM captions_fts WHERE rowid = OLD.id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_current THEN
            INSERT INTO captions_fts (rowid, tsv)
            VALUES (NEW.id, to_tsvector('english', NEW.text));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER captions_ai AFTER INSERT ON captions FOR EACH ROW
        WHEN (NEW.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_ad AFTER DELETE ON captions FOR EACH ROW
        WHEN (OLD.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions FOR EACH ROW
        EXECUTE FUNCTION captions_fts_sync()""",
    "INSERT INTO captions_fts (rowid, tsv) "
    "SELECT id, to_tsvector('english', text) FROM captions WHERE is_current",
)
POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS captions_ai ON captions",
    "DROP TRIGGER IF EXISTS captions_ad ON captions",
    "DROP TRIGGER IF EXISTS captions_au ON captions",
    "DROP FUNCTION IF EXISTS captions_fts_sync()",
    "DROP TABLE IF EXISTS captions_fts",
)


def _run(statements: dict[str, tuple[str, ...]]) -> None:
    bind = op.get_bind()
    name = bind.dialect.name
    if name not in statements:
        raise NotImplementedError(f"full-text search is not available on {name}")
    for statement in statements[name]:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    """Apply this revision."""
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP})


def downgrade() -> None:
    """Revert this revision."""
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN})
