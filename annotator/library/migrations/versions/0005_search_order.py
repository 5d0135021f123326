"""Add a full-text index whose rowids are in photo-date order (SQLite only).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03

"Newest photos first" on a word that matches a hundred thousand captions used to
look up and sort every match (about 760 ms at a million captions). SQLite FTS5
returns matches in rowid order and stops after LIMIT, so this revision adds
``captions_fts_date``: the same documents as ``captions_fts`` (the
``caption_documents`` view, same tokenizer), keyed by

    key = (unix seconds of photos.photo_date / 60) * 2^32 + captions.id

(minute of the photo date, then caption id: unique, and in date order to the
minute; the search re-sorts the matches of the last minute it needs exactly).
Triggers on captions, keywords and photos (a date change, a deletion) keep it in
sync. PostgreSQL is unchanged. The SQL is frozen here: this file imports no live
annotator code.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def _key(date: str, caption_id: str) -> str:
    return (
        f"((coalesce(CAST(strftime('%s', {date}) AS INTEGER), 0) / 60) * 4294967296 + {caption_id})"
    )


_INSERT = (
    "INSERT INTO captions_fts_date(rowid, text, keywords) "
    "SELECT key, text, keywords FROM caption_documents_by_date"
)
_PHOTO_KEYS = (
    "SELECT " + _key("p.photo_date", "c.id") + " FROM captions c JOIN photos p "
    "ON p.id = c.photo_id WHERE c.is_current = 1 AND c.photo_id"
)
_OLD_PHOTO_KEYS = (
    "SELECT "
    + _key("old.photo_date", "c.id")
    + " FROM captions c WHERE c.is_current = 1 AND c.photo_id = old.id"
)
_CAPTION_KEY = (
    "SELECT " + _key("p.photo_date", "old.id") + " FROM photos p WHERE p.id = old.photo_id"
)

SQLITE_CREATE = (
    "CREATE VIEW caption_documents_by_date AS SELECT "
    + _key("p.photo_date", "d.id")
    + " AS key, d.id AS id, d.photo_id AS photo_id, d.text AS text, d.keywords AS keywords "
    "FROM caption_documents d JOIN photos p ON p.id = d.photo_id",
    "CREATE VIRTUAL TABLE captions_fts_date USING fts5(text, keywords, "
    "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
    f"""CREATE TRIGGER captions_fts_date_cai AFTER INSERT ON captions WHEN new.is_current BEGIN
        {_INSERT} WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER captions_fts_date_cad AFTER DELETE ON captions WHEN old.is_current BEGIN
        DELETE FROM captions_fts_date WHERE rowid = ({_CAPTION_KEY});
    END""",
    f"""CREATE TRIGGER captions_fts_date_cau AFTER UPDATE OF text, is_current ON captions BEGIN
        DELETE FROM captions_fts_date WHERE rowid = ({_CAPTION_KEY});
        {_INSERT} WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER captions_fts_date_kai AFTER INSERT ON keywords BEGIN
        DELETE FROM captions_fts_date WHERE rowid IN ({_PHOTO_KEYS} = new.photo_id);
        {_INSERT} WHERE photo_id = new.photo_id;
    END""",
    f"""CREATE TRIGGER captions_fts_date_kad AFTER DELETE ON keywords BEGIN
        DELETE FROM captions_fts_date WHERE rowid IN ({_PHOTO_KEYS} = old.photo_id);
        {_INSERT} WHERE photo_id = old.photo_id;
    END""",
    f"""CREATE TRIGGER captions_fts_date_kau AFTER UPDATE ON keywords BEGIN
        DELETE FROM captions_fts_date WHERE rowid IN
            ({_PHOTO_KEYS} IN (old.photo_id, new.photo_id));
        {_INSERT} WHERE photo_id IN (old.photo_id, new.photo_id);
    END""",
    f"""CREATE TRIGGER captions_fts_date_pau AFTER UPDATE OF photo_date ON photos
        WHEN old.photo_date IS NOT new.photo_date BEGIN
        DELETE FROM captions_fts_date WHERE rowid IN ({_OLD_PHOTO_KEYS});
        {_INSERT} WHERE photo_id = new.id;
    END""",
    f"""CREATE TRIGGER captions_fts_date_pbd BEFORE DELETE ON photos BEGIN
        DELETE FROM captions_fts_date WHERE rowid IN ({_OLD_PHOTO_KEYS});
    END""",
    _INSERT,
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS captions_fts_date_cai",
    "DROP TRIGGER IF EXISTS captions_fts_date_cad",
    "DROP TRIGGER IF EXISTS captions_fts_date_cau",
    "DROP TRIGGER IF EXISTS captions_fts_date_kai",
    "DROP TRIGGER IF EXISTS captions_fts_date_kad",
    "DROP TRIGGER IF EXISTS captions_fts_date_kau",
    "DROP TRIGGER IF EXISTS captions_fts_date_pau",
    "DROP TRIGGER IF EXISTS captions_fts_date_pbd",
    "DROP TABLE IF EXISTS captions_fts_date",
    "DROP VIEW IF EXISTS caption_documents_by_date",
)


def upgrade() -> None:
    """Apply this revision (SQLite: build the date-ordered index; PostgreSQL: nothing)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in SQLITE_CREATE:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in SQLITE_DROP:
        bind.exec_driver_sql(statement)
