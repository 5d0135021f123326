"""Add full-text indexes whose rowids are in date and in confidence order (SQLite only).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03

"Newest photos first" on a word that matches a hundred thousand captions used to
look up and sort every match (about 760 ms at a million captions), and "lowest
confidence first" the same. SQLite FTS5 returns matches in rowid order and stops
after LIMIT, so this revision adds two more FTS5 tables over the same documents
as ``captions_fts`` (the ``caption_documents`` view, same tokenizer), keyed by

    captions_fts_date:        (unix seconds of photos.photo_date / 60) * 2^32 + captions.id
    captions_fts_confidence:  (confidence in millionths, clamped, + 2^29) * 2^32 + captions.id
                              (2^30 * 2^32 + captions.id for human captions: last)

unique, and in the wanted order up to the bucket (a minute, a millionth); the
search sorts the matches of the last bucket it needs exactly. Triggers on
captions, keywords and photos (a date change, a deletion) keep them in sync.
Caption ids must stay below 2^32. PostgreSQL is unchanged (its GIN index gives
the matches as a bitmap; the planner sorts them). The SQL is frozen here: this
file imports no live annotator code.
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


KEY_SHIFT = 32  # key = (order bucket) * 2**32 + caption id


def _date_key(caption_id: str, confidence: str, date: str) -> str:
    """Minute of the photo date, then caption id (newest first = rowid descending)."""
    return (
        f"((coalesce(CAST(strftime('%s', {date}) AS INTEGER), 0) / 60) * 4294967296 + {caption_id})"
    )


def _confidence_key(caption_id: str, confidence: str, date: str) -> str:
    """Confidence in millionths (clamped), then caption id; human captions (NULL) last."""
    return (
        f"((CASE WHEN {confidence} IS NULL THEN 1073741824 ELSE max(min(CAST(round("
        f"{confidence} * 1000000) AS INTEGER), 536870911), -536870912) + 536870912 END) "
        f"* 4294967296 + {caption_id})"
    )


def _sqlite_ordered_index(
    name: str, view: str, key: Any
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the CREATE and DROP statements of an FTS5 copy of the documents keyed by ``key``."""
    insert = f"INSERT INTO {name}(rowid, text, keywords) SELECT key, text, keywords FROM {view}"
    photo_keys = (
        f"SELECT {key('c.id', 'c.confidence', 'p.photo_date')} FROM captions c JOIN photos p "
        "ON p.id = c.photo_id WHERE c.is_current = 1 AND c.photo_id"
    )
    old_photo_keys = (
        f"SELECT {key('c.id', 'c.confidence', 'old.photo_date')} FROM captions c "
        "WHERE c.is_current = 1 AND c.photo_id = old.id"
    )
    caption_key = (
        f"SELECT {key('old.id', 'old.confidence', 'p.photo_date')} FROM photos p "
        "WHERE p.id = old.photo_id"
    )
    create = (
        f"CREATE VIEW {view} AS SELECT {key('d.id', 'c.confidence', 'p.photo_date')} AS key, "
        "d.id AS id, d.photo_id AS photo_id, d.text AS text, d.keywords AS keywords "
        "FROM caption_documents d JOIN captions c ON c.id = d.id "
        "JOIN photos p ON p.id = d.photo_id",
        f"CREATE VIRTUAL TABLE {name} USING fts5(text, keywords, "
        "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
        f"""CREATE TRIGGER {name}_cai AFTER INSERT ON captions WHEN new.is_current BEGIN
            {insert} WHERE id = new.id;
        END""",
        f"""CREATE TRIGGER {name}_cad AFTER DELETE ON captions WHEN old.is_current BEGIN
            DELETE FROM {name} WHERE rowid = ({caption_key});
        END""",
        f"""CREATE TRIGGER {name}_cau AFTER UPDATE OF text, is_current, confidence ON captions
        BEGIN
            DELETE FROM {name} WHERE rowid = ({caption_key});
            {insert} WHERE id = new.id;
        END""",
        f"""CREATE TRIGGER {name}_kai AFTER INSERT ON keywords BEGIN
            DELETE FROM {name} WHERE rowid IN ({photo_keys} = new.photo_id);
            {insert} WHERE photo_id = new.photo_id;
        END""",
        f"""CREATE TRIGGER {name}_kad AFTER DELETE ON keywords BEGIN
            DELETE FROM {name} WHERE rowid IN ({photo_keys} = old.photo_id);
            {insert} WHERE photo_id = old.photo_id;
        END""",
        f"""CREATE TRIGGER {name}_kau AFTER UPDATE ON keywords BEGIN
            DELETE FROM {name} WHERE rowid IN ({photo_keys} IN (old.photo_id, new.photo_id));
            {insert} WHERE photo_id IN (old.photo_id, new.photo_id);
        END""",
        f"""CREATE TRIGGER {name}_pau AFTER UPDATE OF photo_date ON photos
            WHEN old.photo_date IS NOT new.photo_date BEGIN
            DELETE FROM {name} WHERE rowid IN ({old_photo_keys});
            {insert} WHERE photo_id = new.id;
        END""",
        f"""CREATE TRIGGER {name}_pbd BEFORE DELETE ON photos BEGIN
            DELETE FROM {name} WHERE rowid IN ({old_photo_keys});
        END""",
        insert,
    )
    drop = (
        *(f"DROP TRIGGER IF EXISTS {name}_{t}" for t in ("cai", "cad", "cau", "kai", "kad")),
        *(f"DROP TRIGGER IF EXISTS {name}_{t}" for t in ("kau", "pau", "pbd")),
        f"DROP TABLE IF EXISTS {name}",
        f"DROP VIEW IF EXISTS {view}",
    )
    return create, drop


DATE_CREATE, DATE_DROP = _sqlite_ordered_index(
    "captions_fts_date", "caption_documents_by_date", _date_key
)
CONFIDENCE_CREATE, CONFIDENCE_DROP = _sqlite_ordered_index(
    "captions_fts_confidence", "caption_documents_by_confidence", _confidence_key
)


def upgrade() -> None:
    """Apply this revision (SQLite: build the date-ordered index; PostgreSQL: nothing)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (*DATE_CREATE, *CONFIDENCE_CREATE):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (*CONFIDENCE_DROP, *DATE_DROP):
        bind.exec_driver_sql(statement)
