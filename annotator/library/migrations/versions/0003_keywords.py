"""Add keywords (model and human) and index them for search together with captions.

Revision ID: 0003
Revises: 0004 (after main's job leases; first written against 0002)
Create Date: 2026-12-03

Adds the ``keywords`` table, ``captions.keywords`` (what the model said with a
caption; NULL for captions stored before, which ``--recaption-older`` fills in),
and replaces revision 0002's full-text index by one whose documents are a
current caption plus its photo's keywords. The SQL is frozen here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None

# --- revision 0002's index, dropped on upgrade and restored on downgrade --------------

_SQLITE_OLD_DROP = (
    "DROP TRIGGER IF EXISTS captions_ai",
    "DROP TRIGGER IF EXISTS captions_ad",
    "DROP TRIGGER IF EXISTS captions_au",
    "DROP TABLE IF EXISTS captions_fts",
    "DROP VIEW IF EXISTS current_captions",
)
_SQLITE_OLD_CREATE = (
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
_PG_OLD_DROP = (
    "DROP TRIGGER IF EXISTS captions_ai ON captions",
    "DROP TRIGGER IF EXISTS captions_ad ON captions",
    "DROP TRIGGER IF EXISTS captions_au ON captions",
    "DROP FUNCTION IF EXISTS captions_fts_sync()",
    "DROP TABLE IF EXISTS captions_fts",
)
_PG_OLD_CREATE = (
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

# --- this revision's index: caption text + the photo's keywords ---------------------

_SQLITE_DOC_INSERT = (
    "INSERT INTO captions_fts(rowid, text, keywords) SELECT id, text, keywords "
    "FROM caption_documents"
)
_SQLITE_NEW_CREATE = (
    """CREATE VIEW caption_documents AS SELECT c.id AS id, c.photo_id AS photo_id,
        c.text AS text,
        coalesce((SELECT group_concat(k.word || ' ' || replace(k.hierarchy, '|', ' '), ' ')
                  FROM keywords k WHERE k.photo_id = c.photo_id AND NOT k.rejected), '')
            AS keywords
        FROM captions c WHERE c.is_current = 1""",
    "CREATE VIRTUAL TABLE captions_fts USING fts5(text, keywords, "
    "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
    f"""CREATE TRIGGER captions_ai AFTER INSERT ON captions WHEN new.is_current BEGIN
        {_SQLITE_DOC_INSERT} WHERE id = new.id;
    END""",
    """CREATE TRIGGER captions_ad AFTER DELETE ON captions WHEN old.is_current BEGIN
        DELETE FROM captions_fts WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions BEGIN
        DELETE FROM captions_fts WHERE rowid = old.id;
        {_SQLITE_DOC_INSERT} WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER keywords_ai AFTER INSERT ON keywords BEGIN
        DELETE FROM captions_fts WHERE rowid IN
            (SELECT id FROM captions WHERE photo_id = new.photo_id AND is_current = 1);
        {_SQLITE_DOC_INSERT} WHERE photo_id = new.photo_id;
    END""",
    f"""CREATE TRIGGER keywords_ad AFTER DELETE ON keywords BEGIN
        DELETE FROM captions_fts WHERE rowid IN
            (SELECT id FROM captions WHERE photo_id = old.photo_id AND is_current = 1);
        {_SQLITE_DOC_INSERT} WHERE photo_id = old.photo_id;
    END""",
    f"""CREATE TRIGGER keywords_au AFTER UPDATE ON keywords BEGIN
        DELETE FROM captions_fts WHERE rowid IN (SELECT id FROM captions
            WHERE photo_id IN (old.photo_id, new.photo_id) AND is_current = 1);
        {_SQLITE_DOC_INSERT} WHERE photo_id IN (old.photo_id, new.photo_id);
    END""",
    _SQLITE_DOC_INSERT,
)
_SQLITE_NEW_DROP = (
    "DROP TRIGGER IF EXISTS captions_ai",
    "DROP TRIGGER IF EXISTS captions_ad",
    "DROP TRIGGER IF EXISTS captions_au",
    "DROP TRIGGER IF EXISTS keywords_ai",
    "DROP TRIGGER IF EXISTS keywords_ad",
    "DROP TRIGGER IF EXISTS keywords_au",
    "DROP TABLE IF EXISTS captions_fts",
    "DROP VIEW IF EXISTS caption_documents",
)
_PG_DOC = "to_tsvector('english', {text}) || to_tsvector('english', keywords_document({photo}))"
_PG_NEW_CREATE = (
    """CREATE TABLE captions_fts (
        rowid integer PRIMARY KEY REFERENCES captions (id) ON DELETE CASCADE,
        tsv tsvector NOT NULL
    )""",
    "CREATE INDEX captions_fts_tsv ON captions_fts USING gin (tsv)",
    """CREATE FUNCTION keywords_document(p integer) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT coalesce(string_agg(word || ' ' || replace(hierarchy, '|', ' '), ' '
                                   ORDER BY norm), '')
        FROM keywords WHERE photo_id = p AND NOT rejected
    $$""",
    f"""CREATE FUNCTION captions_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_current THEN
            DELETE FROM captions_fts WHERE rowid = OLD.id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_current THEN
            INSERT INTO captions_fts (rowid, tsv)
            VALUES (NEW.id, {_PG_DOC.format(text="NEW.text", photo="NEW.photo_id")});
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION keywords_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        p integer;
    BEGIN
        FOREACH p IN ARRAY (CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW.photo_id]
                                       WHEN 'DELETE' THEN ARRAY[OLD.photo_id]
                                       ELSE ARRAY[OLD.photo_id, NEW.photo_id] END) LOOP
            UPDATE captions_fts f SET tsv = {_PG_DOC.format(text="c.text", photo="c.photo_id")}
            FROM captions c WHERE c.id = f.rowid AND c.photo_id = p AND c.is_current;
        END LOOP;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER captions_ai AFTER INSERT ON captions FOR EACH ROW
        WHEN (NEW.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_ad AFTER DELETE ON captions FOR EACH ROW
        WHEN (OLD.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions FOR EACH ROW
        EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER keywords_aiud AFTER INSERT OR UPDATE OR DELETE ON keywords
        FOR EACH ROW EXECUTE FUNCTION keywords_fts_sync()""",
    "INSERT INTO captions_fts (rowid, tsv) SELECT id, "
    + _PG_DOC.format(text="text", photo="photo_id")
    + " FROM captions WHERE is_current",
)
_PG_NEW_DROP = (
    "DROP TRIGGER IF EXISTS keywords_aiud ON keywords",
    "DROP TRIGGER IF EXISTS captions_ai ON captions",
    "DROP TRIGGER IF EXISTS captions_ad ON captions",
    "DROP TRIGGER IF EXISTS captions_au ON captions",
    "DROP FUNCTION IF EXISTS keywords_fts_sync()",
    "DROP FUNCTION IF EXISTS captions_fts_sync()",
    "DROP TABLE IF EXISTS captions_fts",
    "DROP FUNCTION IF EXISTS keywords_document(integer)",
)


def _run(statements: tuple[str, ...]) -> None:
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    """Apply this revision."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    _run(_SQLITE_OLD_DROP if sqlite else _PG_OLD_DROP)
    op.add_column("captions", sa.Column("keywords", sa.JSON(), nullable=True))
    op.create_table(
        "keywords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=128), nullable=False),
        sa.Column("norm", sa.String(length=128), nullable=False),
        sa.Column("hierarchy", sa.String(length=512), server_default="", nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "model",
                "human",
                name="keyword_source",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("origin", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("model_version", sa.String(length=128), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("rejected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_keywords_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keywords")),
        sa.UniqueConstraint("photo_id", "norm", name=op.f("uq_keywords_photo_id_norm")),
    )
    op.create_index(op.f("ix_keywords_norm"), "keywords", ["norm"])
    _run(_SQLITE_NEW_CREATE if sqlite else _PG_NEW_CREATE)


def downgrade() -> None:
    """Revert this revision."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    _run(_SQLITE_NEW_DROP if sqlite else _PG_NEW_DROP)
    op.drop_index(op.f("ix_keywords_norm"), table_name="keywords")
    op.drop_table("keywords")
    op.get_bind().exec_driver_sql("ALTER TABLE captions DROP COLUMN keywords")
    _run(_SQLITE_OLD_CREATE if sqlite else _PG_OLD_CREATE)
