"""Index and search the current captions and keywords: the one module with dialect-specific SQL.

Both implementations index one document per current caption, keyed by caption
id: the caption's text plus its photo's keywords (each keyword's word and the
levels of its hierarchy, rejected keywords left out). Triggers on ``captions``
(insert, delete, update of ``text`` or ``is_current``) and on ``keywords`` keep
the documents in sync, so no code path can forget them. The SQL that creates
the index is frozen in the migration that installed it (revision 0003), and
this module holds the same statements for the running code (install, rebuild, check, query).

SQLite (FTS5)
    ``captions_fts(text, keywords)`` is an FTS5 table filled from the view
    ``caption_documents`` (id, photo_id, text, keywords of current captions),
    tokenizer ``porter unicode61 remove_diacritics 2``, prefix indexes for 2
    and 3 characters. It keeps its own copy of the documents (a keyword change
    must replace a document whose old text is no longer at hand, which an
    external-content table cannot do). Ranking is ``bm25()``, highlighting
    ``snippet()`` over the caption column.
PostgreSQL
    ``captions_fts(rowid, tsv tsvector)`` with a GIN index, filled by the PL/pgSQL
    trigger functions ``captions_fts_sync`` and ``keywords_fts_sync`` with
    ``to_tsvector('english', text) || to_tsvector('english', keywords_document(photo_id))``
    (Snowball/Porter stemming). Unlike SQLite, English stop words such as "the"
    are not indexed, and diacritics are not folded ("cafe" does not find "café").
    Ranking is ``ts_rank``, highlighting ``ts_headline``.

Queries arrive parsed (:class:`annotator.library.query.Query`): words are runs of
letters and digits only, and reach the database quoted (FTS5) or as bound
parameters (PostgreSQL), so no user input is ever parsed as query syntax.

Relevance ranking is bounded. bm25 (and ts_rank) must score *every* match
before it can return the best twenty: a common word on a million captions costs
50-800 ms. So with ``window=K`` (the search default is 2000) a query matching at
most K captions is ranked by relevance, and a broader one lists its most recently
captioned matches first (score None): all matches are still found, in a stable
order, after looking at no more than K+1 of them. (FTS5's bm25 also counts the
rows of each term or phrase of a ranked query for its IDF, so a narrow query
made of common words, such as the phrase "in brown", still reads their doclists
in full: tens of milliseconds at a million captions.) Pass ``window=None`` to
rank every match regardless of cost.

Date and confidence order (SQLite, revision 0005). ``captions_fts_date`` and
``captions_fts_confidence`` hold the same documents keyed by (order bucket,
caption id): (minute of the photo date, id) and (confidence in millionths, id),
human captions last. :meth:`SQLiteFTS5.by_date` and
:meth:`SQLiteFTS5.by_confidence` walk them in rowid order, stop after
``offset + limit`` matches that pass the filters, and sort the matches of the
last bucket reached exactly, so the page is the one a full sort would give.
A folder of at most ``FOLDER_SCAN`` photos gives :class:`Bounds` (its smallest
and largest caption id and date key): the index reads only that stretch of
each doclist. PostgreSQL has no ordered index (``by_date`` returns None); its
folder bounds (caption ids only, found through the ``text_pattern_ops`` path index
of revision 0006) give the planner a narrow primary-key range of ``captions_fts``
to start from, instead of walking every match in rank or confidence order.

Concept expansions (SQLite): the matches found only through an expanded query
(up to 60 OR-ed words) are ranked by :meth:`SQLiteFTS5.rank_among`, bm25 computed
in a per-connection TEMP FTS5 table holding just those matches, since bm25 on
``captions_fts`` would first count every row of each of the 60 words. Snippets of
a ranked page (ids spread over the index) or of a concept expansion come from
another TEMP table holding the page's documents (:meth:`SQLiteFTS5.snippets`):
``snippet()`` depends on the document and the query only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    column,
    event,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.exc import DBAPIError

from annotator.core.errors import LibraryError
from annotator.library.db import rowcount
from annotator.library.query import Query, Term
from annotator.library.schema import Caption, Photo

FTS_TABLE = "captions_fts"
FOLDER_SCAN = 20_000  # folders up to this many photos bound the index range (SQLite)
SNIPPET_TOKENS = 32
INLINE_SNIPPETS = 200  # ordered walks compute snippets on the way for pages ending this early
# Snippets are computed on a copy of the page's documents unless the query has at most
# FEW_PHRASES phrases and the page's ids are on average less than SPREAD apart. Reading
# the page's id range in place costs about the phrases times the matches in that range:
# for one phrase 0.1-0.6 ms, like the copy (0.2-0.8 ms, the scratch table made once per
# connection); for a few common words OR-ed by concept expansion ("man people": 30
# phrases) up to 4 ms, where the copy takes 0.5 ms (1M captions).
SPREAD = 1000
FEW_PHRASES = 1


@dataclass(frozen=True)
class Bounds:
    """The smallest and largest caption id (and date key) that a filter leaves possible.

    A folder's photos are usually captioned together, so their caption ids (and
    photo dates) are close: bounding the index's rowids lets FTS5 read only that
    stretch of each doclist instead of every match in the library, and gives the
    PostgreSQL planner a well-estimated range of the index's primary key to start from.
    ``keys`` (SQLite only) bounds the date-ordered index's rowids. ``size`` (when
    known) is how many current captions the filter leaves at most: the folder's photos.
    Bounds go with the filter that gave them (the caller's ``where`` holds it), so no
    more than ``size`` captions can match.
    """

    ids: tuple[int, int]
    keys: tuple[int, int] | None = None
    size: int | None = None


@dataclass(frozen=True)
class Page:
    """A page of caption ids in order, with the snippets found while walking to it."""

    ids: list[int]
    snippets: dict[int, str] | None = None  # None: not computed (the caller asks for them)


def _joined(
    stmt: Select[Any],
    rowid: ColumnElement[int],
    where: Sequence[ColumnElement[bool]],
    bounds: Bounds | None = None,
) -> Select[Any]:
    """Join ``captions`` and ``photos`` to ``stmt`` when there are conditions on them."""
    if bounds is not None:
        stmt = stmt.where(rowid.between(*bounds.ids))
    if not where:
        return stmt
    return (
        stmt.join(Caption, Caption.id == rowid)
        .join(Photo, Photo.id == Caption.photo_id)
        .where(*where)
    )


def path_under(folder: str) -> ColumnElement[bool]:
    """Return ``substr(path, 1, len(folder)) = folder``: exact on every dialect, unindexed.

    SQLite's LIKE ignores case, so this is SQLite's folder filter.
    """
    return func.substr(Photo.path, 1, len(folder)) == folder


class FullTextIndex(ABC):
    """Maintain and query the full-text index; the dialects supply only their SQL pieces.

    A dialect gives the index's ``rowid`` column (:attr:`rowid`), the match
    condition on index rows (:meth:`condition`) and a relevance score (:meth:`score`);
    everything built from them (matching, paging, ranking) is shared here.
    """

    rowid: ColumnElement[int]

    @abstractmethod
    def install(self, conn: Connection) -> None:
        """Create the index and its triggers, and index the current captions."""

    @abstractmethod
    def uninstall(self, conn: Connection) -> None:
        """Drop the index and its triggers."""

    @abstractmethod
    def rebuild(self, conn: Connection) -> None:
        """Re-index every current caption from scratch."""

    @abstractmethod
    def check(self, conn: Connection) -> None:
        """Raise :class:`LibraryError` unless the index holds exactly the current documents."""

    @abstractmethod
    def condition(self, query: Query, *, with_excluded: bool = True) -> ColumnElement[bool] | None:
        """Return the condition on index rows for the required part of ``query`` (None if none)."""

    @abstractmethod
    def score(self, query: Query) -> ColumnElement[float]:
        """Return a relevance score of a matching index row: higher is better."""

    @abstractmethod
    def snippets(
        self, conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return each caption's text with the query's matches wrapped in ``marks``."""

    def _required(self, query: Query) -> ColumnElement[bool]:
        cond = self.condition(query)
        if cond is None:
            raise ValueError("the query has no required terms")
        return cond

    def attach(self, engine: Engine) -> None:
        """Prepare ``engine``'s connections for searching (nothing by default)."""
        return None

    def bounds(self, conn: Connection, folder: str, *, dated: bool = True) -> Bounds | None:
        """Return the bounds of the current captions under ``folder`` (None: not worth it).

        ``dated=False``: the caller needs no date keys (any order but date).
        """
        return None

    def under(self, folder: str) -> ColumnElement[bool]:
        """Return a condition on ``Photo.path``: the photo lies under ``folder``.

        ``folder`` ends with the path separator. Compared exactly, character by
        character (case matters). The default compares the path's first characters,
        which no index serves; a dialect may give a form its index can serve.
        """
        return path_under(folder)

    def matches(self, query: Query, bounds: Bounds | None = None) -> ColumnElement[bool]:
        """Return a condition on ``Caption.id``: the caption matches ``query``.

        A query of exclusions only gives ``NOT IN`` (the captions without them).
        """
        cond = self.condition(query)
        if cond is not None:
            return Caption.id.in_(_joined(select(self.rowid), self.rowid, [], bounds).where(cond))
        excluded = self._required(Query(groups=(query.excluded,)))
        return Caption.id.not_in(
            _joined(select(self.rowid), self.rowid, [], bounds).where(excluded)
        )

    def unmatched(self, query: Query, bounds: Bounds | None = None) -> ColumnElement[bool]:
        """Return a condition for ``where`` of a ranked or counted query: no match of ``query``.

        The default is ``NOT`` :meth:`matches`, a condition on ``Caption.id``; a dialect
        whose index rows can be tested one by one may test the row instead.
        """
        return ~self.matches(query, bounds)

    def ranked(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        window: int | None,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
        among: bool = False,
    ) -> list[tuple[int, float | None]]:
        """Return ``(caption_id, score)`` best first (higher score = more relevant).

        With ``window=K``, a query matching at most K captions is ranked by
        relevance; a broader one returns its newest matches first, with score None
        (see the module docstring). The choice does not depend on ``limit`` or
        ``offset``, so pages are consistent. ``window=None`` always ranks every
        match. ``query`` must have at least one required group; ``where`` holds
        extra conditions on ``Caption`` and ``Photo``. With ``among`` (and a
        window), the at most K matches are scored by :meth:`rank_among` (statistics
        of those matches) instead of :meth:`rank_all` (statistics of the library).
        """
        if not query.groups:
            raise ValueError("ranked() needs a query with required terms")
        if window is not None:
            found: list[tuple[int, float]] | None = None
            if among:
                found = self.rank_among(
                    conn, query, where, limit=limit, offset=offset, bounds=bounds, cap=window
                )
            elif (
                bounds is not None and bounds.size is not None and bounds.size <= window
            ) or self.count_upto(conn, query, where, window + 1, bounds) <= window:
                # A folder of at most ``window`` photos has no more matches: not counted.
                found = self.rank_all(conn, query, where, limit=limit, offset=offset, bounds=bounds)
            if found is None:  # more matches than the window
                newest = self.newest(conn, query, where, offset + limit, bounds)
                return [(caption_id, None) for caption_id in newest[offset : offset + limit]]
            return [(i, score) for i, score in found]
        return [
            (i, score)
            for i, score in self.rank_all(
                conn, query, where, limit=limit, offset=offset, bounds=bounds
            )
        ]

    def by_date(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
        marks: tuple[str, str] | None = None,
    ) -> Page | None:
        """Return a page of matching caption ids, newest photo first, or None.

        None means that the dialect has no index in date order: the caller then sorts
        the matches itself. ``where`` holds conditions on ``Caption`` and ``Photo``.
        With ``marks``, the page may also hold the snippets (as :meth:`snippets`).
        """
        return None

    def by_confidence(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        marks: tuple[str, str] | None = None,
    ) -> Page | None:
        """Return a page of matching caption ids, least confident first, or None (see by_date)."""
        return None

    def count(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        bounds: Bounds | None = None,
    ) -> int:
        """Return how many captions match ``query`` and ``where``."""
        counted = select(func.count()).select_from(self.rowid.table)
        stmt = _joined(counted, self.rowid, where, bounds).where(self._required(query))
        return int(conn.scalar(stmt) or 0)

    def count_upto(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> int:
        """Return how many captions match ``query`` and ``where``, counting no further than ``n``.

        Counted in the database: fetching up to ``n`` ids only to count them costs more
        in Python than the index lookup itself.
        """
        stmt = _joined(select(self.rowid), self.rowid, where, bounds)
        capped = stmt.where(self._required(query)).limit(n).subquery()
        return int(conn.scalar(select(func.count()).select_from(capped)) or 0)

    def first_ids(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> list[int]:
        """Return up to ``n`` ids of captions matching ``query``, in the cheapest order."""
        stmt = _joined(select(self.rowid), self.rowid, where, bounds)
        stmt = stmt.where(self._required(query)).limit(n)
        return [int(i) for i in conn.scalars(stmt).all()]

    def newest(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> list[int]:
        """Return the ids of the ``n`` most recent captions matching ``query``, newest first."""
        stmt = (
            _joined(select(self.rowid), self.rowid, where, bounds)
            .where(self._required(query))
            .order_by(self.rowid.desc())
            .limit(n)
        )
        return [int(i) for i in conn.scalars(stmt)]

    def rank_among(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
        cap: int,
    ) -> list[tuple[int, float]] | None:
        """Score the matches as if they were the whole collection; return a page, best first.

        None when more than ``cap`` captions match. For a few matches of a query whose
        library-wide statistics cost a full scan (see :class:`SQLiteFTS5`). The default
        is :meth:`rank_all`, right for scores that use no collection statistics
        (PostgreSQL's ``ts_rank``).
        """
        if self.count_upto(conn, query, where, cap + 1, bounds) > cap:
            return None
        return self.rank_all(conn, query, where, limit=limit, offset=offset, bounds=bounds)

    def rank_all(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
    ) -> list[tuple[int, float]]:
        """Score every match and return a page of ``(caption_id, score)``, best first."""
        score = self.score(query)
        stmt = (
            _joined(cast("Select[Any]", select(self.rowid, score)), self.rowid, where, bounds)
            .where(self._required(query))
            .order_by(score.desc(), self.rowid.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(int(i), float(s)) for i, s in conn.execute(stmt)]


# ------------------------------------------------------------------ the index's SQL
# The running code's copy of the SQL that migration 0003 froze (a test checks that the
# two build the same index). A change here needs a new migration.

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
# The running code's copy of the SQL that migration 0005 froze: the same documents keyed
# by (minute of the photo date, caption id), so that FTS5 returns matches newest first.
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


_SQLITE_DATE_CREATE, _SQLITE_DATE_DROP = _sqlite_ordered_index(
    "captions_fts_date", "caption_documents_by_date", _date_key
)
_SQLITE_CONFIDENCE_CREATE, _SQLITE_CONFIDENCE_DROP = _sqlite_ordered_index(
    "captions_fts_confidence", "caption_documents_by_confidence", _confidence_key
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


# --------------------------------------------------------------------------- SQLite


_fts5 = table(FTS_TABLE, column("rowid", Integer))
# the column named after the table: MATCH, bm25()
_fts5_hidden: ColumnElement[Any] = literal_column(FTS_TABLE)
_DOCUMENTS = "caption_documents"
DATE_TABLE = "captions_fts_date"
CONFIDENCE_TABLE = "captions_fts_confidence"
ORDERED = (
    (DATE_TABLE, "caption_documents_by_date"),
    (CONFIDENCE_TABLE, "caption_documents_by_confidence"),
)


# Whether caption ?1's confidence millionth holds no other confidence value: the nearest
# smaller and larger values of any current caption (two lookups in the partial index
# ix_captions_current_confidence) fall in other millionths. NULL (human captions): yes.
_SINGLE_VALUE = (
    "SELECT v IS NULL OR (coalesce({lo} <> {v}, 1) AND coalesce({hi} <> {v}, 1)) FROM "
    "(SELECT c.confidence AS v, "
    "(SELECT max(n.confidence) FROM captions n WHERE n.is_current = 1 AND n.confidence < "
    "c.confidence) AS lo, "
    "(SELECT min(n.confidence) FROM captions n WHERE n.is_current = 1 AND n.confidence > "
    "c.confidence) AS hi "
    "FROM captions c WHERE c.id = ?)"
).format(**{name: _confidence_key("0", name, "") for name in ("v", "lo", "hi")})


def _single_value(conn: Connection, caption_id: int) -> bool:
    """Return True if the confidence millionth of ``caption_id`` holds a single value.

    Its captions then have equal confidences, so their exact order (confidence, id)
    is the index's rowid order.
    """
    return bool(conn.exec_driver_sql(_SINGLE_VALUE, (caption_id,)).scalar())


# Per-connection scratch tables (TEMP: never in the library file) for rank_among and
# snippets: the same columns and tokenizer as captions_fts.
RANK_TABLE = "captions_rank"
SNIPPET_TABLE = "captions_snippet"


def _scratch_table(name: str) -> Any:
    return table(name, column("rowid", Integer), column("text"), column("keywords"), schema="temp")


_rank_table = _scratch_table(RANK_TABLE)


_SCRATCH_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.{name} USING fts5(text, keywords, "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
_SCRATCH_READY = "annotator.fts.scratch"  # in a pooled connection's info: tables created


def _create_scratch(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Create the TEMP scratch tables of a connection at its first checkout.

    Outside any transaction (the library's SQLite connections are in autocommit until
    a session begins), so they stay for the connection's life: a table created within
    a search's read transaction would go with its rollback, and creating and dropping
    it again every search costs a schema change each time (about 1-2 ms a search: the
    CREATE, the DROP of the rollback, and the next statements prepared again).
    """
    if record.info.get(_SCRATCH_READY):
        return
    cursor = dbapi_connection.cursor()
    try:
        for name in (RANK_TABLE, SNIPPET_TABLE):
            cursor.execute(_SCRATCH_DDL.format(name=name))
    finally:
        cursor.close()
    record.info[_SCRATCH_READY] = True


def _scratch(conn: Connection, name: str) -> None:
    """Empty the TEMP FTS5 table ``name`` (create it first if the connection has none).

    Usually created at the connection's checkout (:func:`_create_scratch`). The rows
    a search inserts go with the rollback that ends its read transaction (page by
    page, where FTS5 would delete row by row, re-reading each document); emptied first
    all the same, in case the caller's transaction goes on. A connection without the
    tables (checked out before the index was attached) creates them here, within the
    transaction: gone again after it.
    """
    if not conn.connection.info.get(_SCRATCH_READY):
        conn.exec_driver_sql(_SCRATCH_DDL.format(name=name))
    conn.exec_driver_sql(f"DELETE FROM temp.{name}")


def _fts5_string(words: Sequence[str]) -> str:
    # Words hold only letters and digits; doubling quotes keeps this safe regardless.
    return '"' + " ".join(w.replace('"', '""') for w in words) + '"'


def _fts5_term(term: Term) -> str:
    return _fts5_string(term.words) + (" *" if term.prefix else "")


def _fts5_any(terms: Sequence[Term]) -> str:
    inner = " OR ".join(_fts5_term(t) for t in terms)
    return inner if len(terms) == 1 else f"({inner})"


def fts5_expression(query: Query, *, with_excluded: bool = True) -> str | None:
    """Return the FTS5 MATCH expression for the required part of ``query`` (None if none)."""
    if not query.groups:
        return None
    expr = " AND ".join(_fts5_any(g) for g in query.groups)
    if with_excluded and query.excluded:
        expr = f"({expr}) NOT {_fts5_any(query.excluded)}"
    return expr


class SQLiteFTS5(FullTextIndex):
    """FTS5 table of caption + keywords documents (see the module docstring)."""

    rowid = _fts5.c.rowid

    def install(self, conn: Connection) -> None:
        """Create the view, the FTS5 table and the triggers, and index current captions."""
        for statement in (*_SQLITE_NEW_CREATE, *_SQLITE_DATE_CREATE, *_SQLITE_CONFIDENCE_CREATE):
            conn.exec_driver_sql(statement)

    def uninstall(self, conn: Connection) -> None:
        """Drop the triggers, the FTS5 table and the view."""
        for statement in (*_SQLITE_CONFIDENCE_DROP, *_SQLITE_DATE_DROP, *_SQLITE_NEW_DROP):
            conn.exec_driver_sql(statement)

    def rebuild(self, conn: Connection) -> None:
        """Empty the index and fill it from the ``caption_documents`` view."""
        conn.exec_driver_sql(f"DELETE FROM {FTS_TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE}(rowid, text, keywords) "
            f"SELECT id, text, keywords FROM {_DOCUMENTS}"
        )
        for name, view in ORDERED:
            conn.exec_driver_sql(f"DELETE FROM {name}")
            conn.exec_driver_sql(
                f"INSERT INTO {name}(rowid, text, keywords) SELECT key, text, keywords FROM {view}"
            )

    def check(self, conn: Connection) -> None:
        """Run FTS5's ``integrity-check`` and compare the documents with the views."""
        try:
            for name in (FTS_TABLE, *(n for n, _ in ORDERED)):
                conn.exec_driver_sql(f"INSERT INTO {name}({name}) VALUES ('integrity-check')")
        except DBAPIError as exc:  # sqlite reports a damaged index as "malformed"
            raise LibraryError(f"full-text index out of sync: {exc}") from exc
        for name, view in ORDERED:
            held, stale, wanted = conn.exec_driver_sql(
                f"SELECT (SELECT count(*) FROM {name}), (SELECT count(*) FROM {view} d "
                f"LEFT JOIN {name} f ON f.rowid = d.key WHERE f.rowid IS NULL "
                "OR f.text IS NOT d.text OR f.keywords IS NOT d.keywords), "
                f"(SELECT count(*) FROM {view})"
            ).one()
            if stale or held != wanted:
                raise LibraryError(
                    f"{name} out of sync: {stale} missing or stale, {held - wanted + stale} extra"
                )
        stale = conn.exec_driver_sql(
            f"SELECT count(*) FROM {_DOCUMENTS} d LEFT JOIN {FTS_TABLE} f ON f.rowid = d.id "
            "WHERE f.rowid IS NULL OR f.text IS NOT d.text OR f.keywords IS NOT d.keywords"
        ).scalar_one()
        extra = conn.exec_driver_sql(
            f"SELECT count(*) FROM {FTS_TABLE} f LEFT JOIN {_DOCUMENTS} d ON d.id = f.rowid "
            "WHERE d.id IS NULL"
        ).scalar_one()
        if stale or extra:
            raise LibraryError(
                f"full-text index out of sync: {stale} missing or stale, {extra} extra"
            )

    def attach(self, engine: Engine) -> None:
        """Create the TEMP scratch tables in each connection at its first checkout."""
        if not event.contains(engine, "checkout", _create_scratch):
            event.listen(engine, "checkout", _create_scratch)

    def bounds(self, conn: Connection, folder: str, *, dated: bool = True) -> Bounds | None:
        """Return the caption-id and date-key bounds of a folder of at most FOLDER_SCAN photos.

        ``folder`` ends with the path separator. Paths compare byte-wise (BINARY
        collation), so the paths under it are exactly those from ``folder`` up to the
        same text with the separator's successor: a range of the unique path index.
        With ``dated=False`` the date keys are left out: no date conversion per photo,
        and the path index alone covers the photos (about half the statement's time).
        """
        upper = folder[:-1] + chr(ord(folder[-1]) + 1)
        key = _date_key("c.id", "c.confidence", "p.photo_date")
        keys, date = (f", min({key}), max({key})", ", photo_date") if dated else ("", "")
        row = conn.exec_driver_sql(
            f"SELECT count(*), min(c.id), max(c.id){keys} FROM "
            f"(SELECT id{date} FROM photos WHERE path >= ? AND path < ? LIMIT ?) p "
            "LEFT JOIN captions c ON c.photo_id = p.id AND c.is_current = 1",
            (folder, upper, FOLDER_SCAN + 1),
        ).one()
        if row[0] > FOLDER_SCAN:
            return None
        if row[1] is None:  # no captions: bounds that match nothing
            return Bounds((0, -1), (0, -1) if dated else None, 0)
        ids = (int(row[1]), int(row[2]))
        return Bounds(ids, (int(row[3]), int(row[4])) if dated else None, int(row[0]))

    @staticmethod
    def _match(expression: str) -> ColumnElement[bool]:
        return _fts5_hidden.op("MATCH")(literal(expression))

    # Without conditions on captions and photos (the usual search), the statements of
    # a ranked page are written out here: building and compiling the same statements
    # as expressions costs more Python time per search than some of them take to run.

    @staticmethod
    def _plain(query: Query, bounds: Bounds | None) -> tuple[str, tuple[Any, ...]]:
        """Return ``captions_fts MATCH ?`` (and the bounds' rowid range) with its parameters."""
        expression = fts5_expression(query)
        if expression is None:
            raise ValueError("the query has no required terms")
        if bounds is None:
            return f"{FTS_TABLE} MATCH ?", (expression,)
        return f"{FTS_TABLE} MATCH ? AND rowid BETWEEN ? AND ?", (expression, *bounds.ids)

    def count_upto(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> int:
        """Count as the base class does; without ``where``, in a statement written out."""
        if where:
            return super().count_upto(conn, query, where, n, bounds)
        cond, params = self._plain(query, bounds)
        sql = f"SELECT count(*) FROM (SELECT rowid FROM {FTS_TABLE} WHERE {cond} LIMIT ?)"
        return int(conn.exec_driver_sql(sql, (*params, n)).scalar() or 0)

    def rank_all(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
    ) -> list[tuple[int, float]]:
        """Rank as the base class does (``0.0 - bm25()``); without ``where``, written out."""
        if where:
            return super().rank_all(conn, query, where, limit=limit, offset=offset, bounds=bounds)
        cond, params = self._plain(query, bounds)
        sql = (
            f"SELECT rowid, 0.0 - bm25({FTS_TABLE}) AS score FROM {FTS_TABLE} WHERE {cond} "
            "ORDER BY score DESC, rowid DESC LIMIT ? OFFSET ?"
        )
        rows = conn.exec_driver_sql(sql, (*params, limit, offset))
        return [(int(i), float(score)) for i, score in rows]

    def newest(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> list[int]:
        """Return the newest matches as the base class does; without ``where``, written out."""
        if where:
            return super().newest(conn, query, where, n, bounds)
        cond, params = self._plain(query, bounds)
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {cond} ORDER BY rowid DESC LIMIT ?"
        return [int(i) for (i,) in conn.exec_driver_sql(sql, (*params, n))]

    def by_date(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
        marks: tuple[str, str] | None = None,
    ) -> Page | None:
        """Return a page of matching caption ids, newest photo first, from ``captions_fts_date``.

        Its rowids are (minute of the photo date, caption id), so FTS5 walks the matches
        newest first and stops after ``offset + limit``; then every match of the last
        minute reached (and the newer ones) is sorted exactly by (photo date, photo id).
        """
        exact = (Photo.photo_date.desc(), Photo.id.desc())
        keys = None if bounds is None else bounds.keys
        return self._walk(conn, DATE_TABLE, False, exact, query, where, limit, offset, keys, marks)

    def by_confidence(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        marks: tuple[str, str] | None = None,
    ) -> Page | None:
        """Return a page of matching caption ids, least confident first, human captions last.

        From ``captions_fts_confidence``, keyed by (confidence in millionths, caption
        id), walked in rowid order like :meth:`by_date`. A millionth that holds a single
        confidence value (or none: human captions) is already in the exact order, by
        caption id, so its ties need no sort (:func:`_single_value`).
        """
        exact = (Caption.confidence.is_(None), Caption.confidence.asc(), Caption.id.asc())
        return self._walk(
            conn,
            CONFIDENCE_TABLE,
            True,
            exact,
            query,
            where,
            limit,
            offset,
            None,
            marks,
            single=_single_value,
        )

    def _walk(
        self,
        conn: Connection,
        name: str,
        ascending: bool,
        exact: tuple[Any, ...],
        query: Query,
        where: Sequence[ColumnElement[bool]],
        limit: int,
        offset: int,
        keys: tuple[int, int] | None,
        marks: tuple[str, str] | None,
        single: Any = None,
    ) -> Page | None:
        """Walk an ordered index (rowid = bucket * 2**32 + caption id) and sort the last bucket.

        The first statement reads ``offset + limit`` matches in rowid order, and one
        more: when that one starts a new bucket (the usual case), the rows in hand are
        exactly the matches of the buckets reached, and sorting them by the exact order
        gives the page a full sort would. With ``marks`` (and a first page of at most
        ``INLINE_SNIPPETS`` rows) that statement also returns the snippets: no other
        full-text query. When the last bucket goes on, a second statement sorts all the
        matches up to its end in SQL, unless ``single(conn, caption_id)`` says that the
        bucket's rowid order is already its exact order: then the rows in hand are a
        prefix of the exact order all the same.
        """
        expression = fts5_expression(query)
        if expression is None:
            return None
        ordered = table(name, column("rowid", Integer))
        key = ordered.c.rowid
        caption_id = key.op("&")(literal_column("4294967295"))
        match = literal_column(name).op("MATCH")(literal(expression))
        inline = marks is not None and offset + limit <= INLINE_SNIPPETS
        columns: list[Any] = [key]
        if marks is not None and inline:
            snippet = func.snippet(
                literal_column(name),
                0,
                literal(marks[0]),
                literal(marks[1]),
                literal("…"),
                SNIPPET_TOKENS,
            )
            columns.append(snippet)

        def walk(*cols: Any) -> Select[Any]:
            stmt = (
                select(*cols)
                .select_from(ordered)
                .join(Caption, Caption.id == caption_id)
                .join(Photo, Photo.id == Caption.photo_id)
                .where(match, *where)
                .order_by(key.asc() if ascending else key.desc())
            )
            return stmt if keys is None else stmt.where(key.between(*keys))

        want = offset + limit
        rows = conn.execute(walk(*columns).limit(want + 1)).all()
        if len(rows) <= offset:
            return Page([])
        last = int(rows[min(len(rows), want) - 1][0])
        bucket = last >> KEY_SHIFT
        goes_on = len(rows) > want and int(rows[want][0]) >> KEY_SHIFT == bucket
        if goes_on and not (single is not None and single(conn, last & 0xFFFFFFFF)):
            # The last bucket goes on (ties in the order's key): sort every match up to
            # its end in SQL; rows of a later bucket come after all of them.
            edge = (
                key < literal((bucket + 1) << KEY_SHIFT)
                if ascending
                else key >= literal(bucket << KEY_SHIFT)
            )
            stmt = walk(Caption.id).where(edge).order_by(None).order_by(*exact)
            return Page([int(i) for i in conn.scalars(stmt.limit(limit).offset(offset))])
        # The rows in hand are exactly the matches of the buckets reached.
        found = {int(r[0]) & 0xFFFFFFFF: (r[1] if inline else None) for r in rows[:want]}
        exact_page = (
            select(Caption.id)
            .join(Photo, Photo.id == Caption.photo_id)
            .where(Caption.id.in_(list(found)))
            .order_by(*exact)
            .limit(limit)
            .offset(offset)
        )
        ids = [int(i) for i in conn.scalars(exact_page)]
        if not inline:
            return Page(ids)
        return Page(ids, {i: cast(str, found[i]) for i in ids})

    def rank_among(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
        bounds: Bounds | None = None,
        cap: int,
    ) -> list[tuple[int, float]] | None:
        """Return a page of the matches ranked by ``bm25()`` computed over the matches alone.

        FTS5's bm25 weighs each phrase by its IDF, and counts the phrase's rows in the
        whole table for it: a scan of every doclist of the query (tens of milliseconds
        for a 60-word concept expansion at a million captions) however few the matches.
        Here the matching documents are copied into a per-connection temporary FTS5
        table (same tokenizer) and bm25 is computed there, so the document count,
        average length and each phrase's IDF are those of the matches. At most
        ``cap + 1`` documents are copied: None when more than ``cap`` captions match.
        Ties: newest caption first.
        """
        expression = fts5_expression(query)
        if expression is None:
            raise ValueError("rank_among() needs a query with required terms")
        _scratch(conn, RANK_TABLE)
        documents = _joined(
            select(
                self.rowid,
                literal_column(f"{FTS_TABLE}.text"),
                literal_column(f"{FTS_TABLE}.keywords"),
            ),
            self.rowid,
            where,
            bounds,
        ).where(self._match(expression))
        copied = conn.execute(
            insert(_rank_table).from_select(["rowid", "text", "keywords"], documents.limit(cap + 1))
        )
        if rowcount(copied) > cap:
            return None
        rank: ColumnElement[Any] = literal_column(RANK_TABLE)
        score = literal(0.0) - func.bm25(rank)
        page = (
            select(_rank_table.c.rowid, score)
            .where(rank.op("MATCH")(literal(expression)))
            .order_by(score.desc(), _rank_table.c.rowid.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(int(i), float(s)) for i, s in conn.execute(page)]

    def condition(self, query: Query, *, with_excluded: bool = True) -> ColumnElement[bool] | None:
        """Return ``captions_fts MATCH <expression>``."""
        expression = fts5_expression(query, with_excluded=with_excluded)
        return None if expression is None else self._match(expression)

    def score(self, query: Query) -> ColumnElement[float]:
        """Return ``-bm25()`` (bm25 is negative, lower is better)."""
        return literal(0.0) - func.bm25(_fts5_hidden)

    def snippets(
        self, conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return ``snippet()`` of the caption for each id (only ids that match appear).

        For ids spread over the index (a ranked page) or a query of more than
        ``FEW_PHRASES`` phrases (several words, a concept expansion), computed in a TEMP
        FTS5 table into which the page's documents are copied: ``snippet()`` depends
        only on the document, the query and the tokenizer, so the text is the one
        ``captions_fts`` would give, while the query runs over a page of documents
        instead of over the library (a ranked page's ids are spread over the whole
        index, and a concept expansion is up to 60 phrases: tens of milliseconds at a
        million captions). Otherwise :meth:`_snippets_in_place`, which saves the copy.
        """
        expression = fts5_expression(query, with_excluded=False)
        if expression is None or not ids:
            return {}
        phrases = sum(len(group) for group in query.groups)
        if phrases <= FEW_PHRASES and max(ids) - min(ids) < SPREAD * len(ids):
            return self._snippets_in_place(conn, expression, ids, marks)
        _scratch(conn, SNIPPET_TABLE)
        # Copied by rowid from the index's own copy of the documents: no full-text query.
        conn.exec_driver_sql(
            f"INSERT INTO temp.{SNIPPET_TABLE}(rowid, text, keywords) SELECT rowid, text, "
            f"keywords FROM {FTS_TABLE} WHERE rowid IN ({','.join('?' * len(ids))})",
            tuple(ids),
        )
        rows = conn.exec_driver_sql(
            f"SELECT rowid, snippet({SNIPPET_TABLE}, 0, ?, ?, ?, ?) FROM temp.{SNIPPET_TABLE} "
            f"WHERE {SNIPPET_TABLE} MATCH ?",
            (marks[0], marks[1], "…", SNIPPET_TOKENS, expression),
        )
        return {int(i): s for i, s in rows}

    @staticmethod
    def _snippets_in_place(
        conn: Connection, expression: str, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return ``snippet()`` from ``captions_fts``, reading the page's id range once.

        For ids close together (a page of the newest matches): the range holds few
        other matches. "rowid IN (...)" on a virtual table would start the query again
        for each id; "+ 0" keeps the IN list out of FTS5's index choice, so it only
        filters the rows the range scan returns.
        """
        rows = conn.exec_driver_sql(
            f"SELECT rowid, snippet({FTS_TABLE}, 0, ?, ?, ?, ?) FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH ? AND rowid BETWEEN ? AND ? "
            f"AND rowid + 0 IN ({','.join('?' * len(ids))})",
            (marks[0], marks[1], "…", SNIPPET_TOKENS, expression, min(ids), max(ids), *ids),
        )
        return {int(i): s for i, s in rows}


# ----------------------------------------------------------------------- PostgreSQL

PG_CONFIG = "english"
_pg_config: ColumnElement[Any] = literal_column(f"'{PG_CONFIG}'::regconfig")
_pgfts = table(FTS_TABLE, column("rowid", Integer), column("tsv", TSVECTOR))
_PG_DOCUMENT = (
    f"to_tsvector('{PG_CONFIG}', c.text) "
    f"|| to_tsvector('{PG_CONFIG}', keywords_document(c.photo_id))"
)


def _pg_term(term: Term) -> ColumnElement[str]:
    if term.prefix:
        # Words hold only letters and digits, so quoting them as lexemes is safe.
        lexemes = [f"'{w}'" for w in term.words]
        lexemes[-1] += ":*"
        return func.to_tsquery(_pg_config, literal(" <-> ".join(lexemes)), type_=TSQUERY)
    return func.phraseto_tsquery(_pg_config, literal(" ".join(term.words)), type_=TSQUERY)


def _pg_any(terms: Sequence[Term]) -> ColumnElement[str]:
    result = _pg_term(terms[0])
    for term in terms[1:]:
        result = result.op("||", return_type=TSQUERY)(_pg_term(term))
    return result


@lru_cache(maxsize=64)
def pg_tsquery(query: Query, *, with_excluded: bool = True) -> ColumnElement[str] | None:
    """Return a ``tsquery`` expression for the required part of ``query`` (None if none).

    Cached: a search uses it in several statements, and a concept-expanded query is an
    expression of a hundred function calls (SQLAlchemy expressions are immutable).
    """
    if not query.groups:
        return None
    result = _pg_any(query.groups[0])
    for group in query.groups[1:]:
        result = result.op("&&", return_type=TSQUERY)(_pg_any(group))
    if with_excluded and query.excluded:
        result = result.op("&&", return_type=TSQUERY)(
            func.tsquery_not(_pg_any(query.excluded), type_=TSQUERY)
        )
    return result


LIKE_ESCAPE = "\\"


def like_prefix(prefix: str) -> str:
    """Return a LIKE pattern (escape ``LIKE_ESCAPE``) of the texts that start with ``prefix``."""
    escaped = prefix.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
    escaped = escaped.replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return escaped + "%"


class PostgresFTS(FullTextIndex):
    """``tsvector`` side table with a GIN index (see the module docstring)."""

    rowid = _pgfts.c.rowid

    def install(self, conn: Connection) -> None:
        """Create the side table, its functions and triggers, and index current captions."""
        for statement in _PG_NEW_CREATE:
            conn.exec_driver_sql(statement)

    def uninstall(self, conn: Connection) -> None:
        """Drop the triggers, the functions and the side table."""
        for statement in _PG_NEW_DROP:
            conn.exec_driver_sql(statement)

    def rebuild(self, conn: Connection) -> None:
        """Empty the side table and index every current caption with its keywords."""
        conn.exec_driver_sql(f"DELETE FROM {FTS_TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE} (rowid, tsv) "
            f"SELECT c.id, {_PG_DOCUMENT} FROM captions c WHERE c.is_current"
        )

    def check(self, conn: Connection) -> None:
        """Compare the side table with the current captions and their keywords."""
        stale = conn.exec_driver_sql(
            f"SELECT count(*) FROM captions c LEFT JOIN {FTS_TABLE} f ON f.rowid = c.id "
            f"WHERE c.is_current AND (f.rowid IS NULL OR f.tsv <> {_PG_DOCUMENT})"
        ).scalar_one()
        extra = conn.exec_driver_sql(
            f"SELECT count(*) FROM {FTS_TABLE} f LEFT JOIN captions c ON c.id = f.rowid "
            "WHERE c.id IS NULL OR NOT c.is_current"
        ).scalar_one()
        if stale or extra:
            raise LibraryError(
                f"full-text index out of sync: {stale} missing or stale, {extra} extra"
            )

    def condition(self, query: Query, *, with_excluded: bool = True) -> ColumnElement[bool] | None:
        """Return ``tsv @@ <tsquery>``."""
        tsquery = pg_tsquery(query, with_excluded=with_excluded)
        return None if tsquery is None else _pgfts.c.tsv.bool_op("@@")(tsquery)

    def score(self, query: Query) -> ColumnElement[float]:
        """Return ``ts_rank``."""
        tsquery = pg_tsquery(query)
        assert tsquery is not None
        return func.ts_rank(_pgfts.c.tsv, tsquery)

    def unmatched(self, query: Query, bounds: Bounds | None = None) -> ColumnElement[bool]:
        """Return ``NOT (tsv @@ <tsquery>)``: the index row itself does not match.

        Same rows as ``NOT IN (matches)``, which the planner runs as a scan of every
        caption against a hashed list instead of testing the few rows it ranks.
        """
        return ~self._required(query)

    def count_upto(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        n: int,
        bounds: Bounds | None = None,
    ) -> int:
        """Count as the base class does, the matches found without knowing of the LIMIT.

        Given ``LIMIT n``, the planner reads ``captions_fts`` in order and tests every
        row until ``n`` match, expecting to stop early; a 60-word concept expansion
        costs microseconds a row, so that takes 100 ms at 100k captions. A
        MATERIALIZED CTE is planned alone: the GIN index finds the matches (or, for
        a word in most captions, the sequential scan stops after ``n``: the CTE is
        read only as far as the count needs).
        """
        stmt = _joined(select(self.rowid), self.rowid, where, bounds)
        found = stmt.where(self._required(query)).cte("found").prefix_with("MATERIALIZED")
        capped = select(found.c.rowid).limit(n).subquery()
        return int(conn.scalar(select(func.count()).select_from(capped)) or 0)

    def bounds(self, conn: Connection, folder: str, *, dated: bool = True) -> Bounds | None:
        """Return the caption-id bounds of a folder of at most FOLDER_SCAN photos.

        ``folder`` ends with the path separator. Without them, the planner often walks
        the whole match list in rank (or confidence) order and filters by folder as it
        goes: it cannot see that a folder's photos are also a narrow range of captions.
        """
        photos = select(Photo.id).where(self.under(folder)).limit(FOLDER_SCAN + 1).subquery()
        captions = photos.outerjoin(Caption, (Caption.photo_id == photos.c.id) & Caption.is_current)
        stmt = select(func.count(), func.min(Caption.id), func.max(Caption.id))
        row = conn.execute(stmt.select_from(captions)).one()
        if row[0] > FOLDER_SCAN:
            return None
        if row[1] is None:  # no captions: bounds that match nothing
            return Bounds((0, -1), size=0)
        return Bounds((int(row[1]), int(row[2])), size=int(row[0]))

    def under(self, folder: str) -> ColumnElement[bool]:
        """Return ``path LIKE 'folder%'``, with the folder's ``%``, ``_`` and ``\\`` escaped.

        PostgreSQL's LIKE is case-sensitive, and the ``text_pattern_ops`` index on
        ``photos.path`` (revision 0006) serves a pattern with a fixed prefix whatever the
        database's collation.
        """
        return Photo.path.like(like_prefix(folder), escape=LIKE_ESCAPE)

    def snippets(
        self, conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return ``ts_headline`` (whole caption, every match highlighted) for each id."""
        tsquery = pg_tsquery(query, with_excluded=False)
        if tsquery is None or not ids:
            return {}
        if any('"' in m for m in marks):
            raise ValueError('highlight marks must not contain a double quote (")')
        options = f'StartSel="{marks[0]}", StopSel="{marks[1]}", HighlightAll=true'
        headline = func.ts_headline(_pg_config, Caption.text, tsquery, literal(options))
        stmt = select(Caption.id, headline).where(Caption.id.in_(list(ids)))
        return {int(i): s for i, s in conn.execute(stmt)}


def for_dialect(name: str) -> FullTextIndex:
    """Return the full-text index implementation for a SQLAlchemy dialect name."""
    if name == "sqlite":
        return SQLiteFTS5()
    if name == "postgresql":
        return PostgresFTS()
    raise LibraryError(f"no full-text search for database {name!r}")
