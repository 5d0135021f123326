"""Index and search the current captions: the one module with dialect-specific SQL.

Both implementations index exactly the captions with ``is_current`` set, keyed by
caption id, and are kept in sync by triggers on ``captions`` (insert, delete,
and update of ``text`` or ``is_current``), so no code path can forget them.

SQLite (FTS5)
    ``captions_fts`` is an external-content FTS5 table over the view
    ``current_captions`` (``id, text`` of current captions), tokenizer
    ``porter unicode61 remove_diacritics 2``, prefix indexes for 2 and 3
    characters. Triggers ``captions_ai/_ad/_au`` insert and ``'delete'`` rows;
    ranking is ``bm25()``, highlighting ``snippet()``. Because the content is the
    view, FTS5's ``rebuild`` and ``integrity-check`` commands work as documented.
PostgreSQL
    ``captions_fts(rowid, tsv tsvector)`` with a GIN index, filled by the PL/pgSQL
    trigger function ``captions_fts_sync`` with ``to_tsvector('english', text)``
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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.exc import DBAPIError

from annotator.core.errors import LibraryError
from annotator.library.query import Query, Term
from annotator.library.schema import Caption, Photo

FTS_TABLE = "captions_fts"
SNIPPET_TOKENS = 32


class FullTextIndex(ABC):
    """Create, maintain and query the full-text index of one database dialect."""

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
        """Raise :class:`LibraryError` unless the index holds exactly the current captions."""

    @abstractmethod
    def matches(self, query: Query) -> ColumnElement[bool]:
        """Return a condition on ``Caption.id``: the caption matches ``query``."""

    def ranked(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        window: int | None,
        limit: int,
        offset: int,
    ) -> list[tuple[int, float | None]]:
        """Return ``(caption_id, score)`` best first (higher score = more relevant).

        With ``window=K``, a query matching at most K captions is ranked by
        relevance; a broader one returns its newest matches first, with score None
        (see the module docstring). The choice does not depend on ``limit`` or
        ``offset``, so pages are consistent. ``window=None`` always ranks every
        match. ``query`` must have at least one required group; ``where`` holds
        extra conditions on ``Caption`` and ``Photo``.
        """
        if not query.groups:
            raise ValueError("ranked() needs a query with required terms")
        if window is not None:
            matches = len(self.first_ids(conn, query, where, window + 1))
            if matches == 0:
                return []
            if matches > window:
                newest = self.newest(conn, query, where, offset + limit)
                return [(caption_id, None) for caption_id in newest[offset : offset + limit]]
        return [
            (i, score) for i, score in self.rank_all(conn, query, where, limit=limit, offset=offset)
        ]

    @abstractmethod
    def first_ids(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Return up to ``n`` ids of captions matching ``query``, in the cheapest order."""

    @abstractmethod
    def newest(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Return the ids of the ``n`` most recent captions matching ``query``, newest first."""

    @abstractmethod
    def rank_all(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
    ) -> list[tuple[int, float]]:
        """Score every match and return a page of ``(caption_id, score)``, best first."""

    @abstractmethod
    def snippets(
        self, conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return each caption's text with the query's matches wrapped in ``marks``."""


def _joined(
    stmt: Select[Any], rowid: ColumnElement[int], where: Sequence[ColumnElement[bool]]
) -> Select[Any]:
    """Join ``captions`` and ``photos`` to ``stmt`` when there are conditions on them."""
    if not where:
        return stmt
    return (
        stmt.join(Caption, Caption.id == rowid)
        .join(Photo, Photo.id == Caption.photo_id)
        .where(*where)
    )


# --------------------------------------------------------------------------- SQLite


_SQLITE_DDL = (
    "CREATE VIEW current_captions AS SELECT id, text FROM captions WHERE is_current",
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, content='current_captions', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
    f"""CREATE TRIGGER captions_ai AFTER INSERT ON captions WHEN new.is_current BEGIN
        INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER captions_ad AFTER DELETE ON captions WHEN old.is_current BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text)
            SELECT 'delete', old.id, old.text WHERE old.is_current;
        INSERT INTO {FTS_TABLE}(rowid, text) SELECT new.id, new.text WHERE new.is_current;
    END""",
)

_fts5 = table(FTS_TABLE, column("rowid", Integer))
# the column named after the table: MATCH, bm25()
_fts5_hidden: ColumnElement[Any] = literal_column(FTS_TABLE)


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
    """FTS5 external-content index (see the module docstring)."""

    def install(self, conn: Connection) -> None:
        """Create the view, the FTS5 table and the triggers, and index current captions."""
        for statement in _SQLITE_DDL:
            conn.exec_driver_sql(statement)
        self.rebuild(conn)

    def uninstall(self, conn: Connection) -> None:
        """Drop the triggers, the FTS5 table and the view."""
        for trigger in ("captions_ai", "captions_ad", "captions_au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        conn.exec_driver_sql("DROP VIEW IF EXISTS current_captions")

    def rebuild(self, conn: Connection) -> None:
        """Re-index from the ``current_captions`` view (FTS5 ``rebuild``)."""
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")

    def check(self, conn: Connection) -> None:
        """Run FTS5's ``integrity-check`` against the content view."""
        try:
            conn.exec_driver_sql(
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
            )
        except DBAPIError as exc:  # sqlite reports a mismatch as "malformed"
            raise LibraryError(f"full-text index out of sync: {exc}") from exc

    @staticmethod
    def _match(expression: str) -> ColumnElement[bool]:
        return _fts5_hidden.op("MATCH")(literal(expression))

    def matches(self, query: Query) -> ColumnElement[bool]:
        """Return ``Caption.id IN (matching rowids)``, or NOT IN for exclusions only."""
        expression = fts5_expression(query)
        if expression is not None:
            return Caption.id.in_(select(_fts5.c.rowid).where(self._match(expression)))
        excluded = _fts5_any(query.excluded)
        return Caption.id.not_in(select(_fts5.c.rowid).where(self._match(excluded)))

    def first_ids(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Walk matches in ascending rowid order, where FTS5 can skip through doclists."""
        rowid = _fts5.c.rowid
        expression = fts5_expression(query)
        assert expression is not None
        stmt = _joined(select(rowid), rowid, where).where(self._match(expression)).limit(n)
        return [int(i) for i in conn.scalars(stmt)]

    def newest(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Walk the matches in descending rowid order (FTS5 needs no sort for it)."""
        rowid = _fts5.c.rowid
        expression = fts5_expression(query)
        assert expression is not None
        stmt = (
            _joined(select(rowid), rowid, where)
            .where(self._match(expression))
            .order_by(rowid.desc())
            .limit(n)
        )
        return [int(i) for i in conn.scalars(stmt)]

    def rank_all(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
    ) -> list[tuple[int, float]]:
        """Rank every match with ``bm25()``."""
        rowid = _fts5.c.rowid
        expression = fts5_expression(query)
        assert expression is not None
        bm25 = func.bm25(_fts5_hidden)
        stmt = (
            _joined(select(rowid, bm25), rowid, where)
            .where(self._match(expression))
            .order_by(bm25, rowid.desc())
            .limit(limit)
            .offset(offset)
        )
        # bm25() is negative, lower is better: report higher-is-better scores.
        return [(int(i), -float(score)) for i, score in conn.execute(stmt)]

    def snippets(
        self, conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
    ) -> dict[int, str]:
        """Return ``snippet()`` for each id (only ids whose caption matches appear)."""
        expression = fts5_expression(query, with_excluded=False)
        if expression is None or not ids:
            return {}
        snippet = func.snippet(
            _fts5_hidden, 0, literal(marks[0]), literal(marks[1]), literal("…"), SNIPPET_TOKENS
        )
        # One pass over the id range: "rowid IN (...)" on a virtual table would run the
        # whole query again for each id. "+ 0" keeps the IN list out of FTS5's index
        # choice, so it only filters the rows the range scan returns.
        rowid = _fts5.c.rowid
        stmt = select(rowid, snippet).where(
            self._match(expression),
            rowid.between(min(ids), max(ids)),
            (rowid + 0).in_(list(ids)),
        )
        return {int(i): s for i, s in conn.execute(stmt)}


# ----------------------------------------------------------------------- PostgreSQL

PG_CONFIG = "english"
_pg_config: ColumnElement[Any] = literal_column(f"'{PG_CONFIG}'::regconfig")
_pgfts = table(FTS_TABLE, column("rowid", Integer), column("tsv", TSVECTOR))

_PG_DDL = (
    f"""CREATE TABLE {FTS_TABLE} (
        rowid integer PRIMARY KEY REFERENCES captions (id) ON DELETE CASCADE,
        tsv tsvector NOT NULL
    )""",
    f"CREATE INDEX {FTS_TABLE}_tsv ON {FTS_TABLE} USING gin (tsv)",
    f"""CREATE FUNCTION captions_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_current THEN
            DELETE FROM {FTS_TABLE} WHERE rowid = OLD.id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_current THEN
            INSERT INTO {FTS_TABLE} (rowid, tsv)
            VALUES (NEW.id, to_tsvector('{PG_CONFIG}', NEW.text));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER captions_ai AFTER INSERT ON captions FOR EACH ROW
        WHEN (NEW.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_ad AFTER DELETE ON captions FOR EACH ROW
        WHEN (OLD.is_current) EXECUTE FUNCTION captions_fts_sync()""",
    """CREATE TRIGGER captions_au AFTER UPDATE OF text, is_current ON captions FOR EACH ROW
        EXECUTE FUNCTION captions_fts_sync()""",
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


def pg_tsquery(query: Query, *, with_excluded: bool = True) -> ColumnElement[str] | None:
    """Return a ``tsquery`` expression for the required part of ``query`` (None if none)."""
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


class PostgresFTS(FullTextIndex):
    """``tsvector`` side table with a GIN index (see the module docstring)."""

    def install(self, conn: Connection) -> None:
        """Create the side table, its index, the trigger function and triggers; fill it."""
        for statement in _PG_DDL:
            conn.exec_driver_sql(statement)
        self.rebuild(conn)

    def uninstall(self, conn: Connection) -> None:
        """Drop the triggers, the trigger function and the side table."""
        for trigger in ("captions_ai", "captions_ad", "captions_au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON captions")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS captions_fts_sync()")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")

    def rebuild(self, conn: Connection) -> None:
        """Empty the side table and index every current caption."""
        conn.exec_driver_sql(f"DELETE FROM {FTS_TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE} (rowid, tsv) "
            f"SELECT id, to_tsvector('{PG_CONFIG}', text) FROM captions WHERE is_current"
        )

    def check(self, conn: Connection) -> None:
        """Compare the side table with the current captions."""
        stale = conn.exec_driver_sql(
            f"SELECT count(*) FROM captions c LEFT JOIN {FTS_TABLE} f ON f.rowid = c.id "
            f"WHERE c.is_current AND (f.rowid IS NULL "
            f"OR f.tsv <> to_tsvector('{PG_CONFIG}', c.text))"
        ).scalar_one()
        extra = conn.exec_driver_sql(
            f"SELECT count(*) FROM {FTS_TABLE} f LEFT JOIN captions c ON c.id = f.rowid "
            "WHERE c.id IS NULL OR NOT c.is_current"
        ).scalar_one()
        if stale or extra:
            raise LibraryError(
                f"full-text index out of sync: {stale} missing or stale, {extra} extra"
            )

    def matches(self, query: Query) -> ColumnElement[bool]:
        """Return ``Caption.id IN (matching rowids)``, or NOT IN for exclusions only."""
        tsquery = pg_tsquery(query)
        if tsquery is not None:
            return Caption.id.in_(select(_pgfts.c.rowid).where(_pgfts.c.tsv.op("@@")(tsquery)))
        excluded = _pg_any(query.excluded)
        return Caption.id.not_in(select(_pgfts.c.rowid).where(_pgfts.c.tsv.op("@@")(excluded)))

    def first_ids(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Return up to ``n`` matches from the GIN index, unordered."""
        tsquery = pg_tsquery(query)
        assert tsquery is not None
        rowid = _pgfts.c.rowid
        stmt = _joined(select(rowid), rowid, where).where(_pgfts.c.tsv.op("@@")(tsquery)).limit(n)
        return [int(i) for i in conn.scalars(stmt)]

    def newest(
        self, conn: Connection, query: Query, where: Sequence[ColumnElement[bool]], n: int
    ) -> list[int]:
        """Return the newest matches (GIN index scan, then a top-n sort on rowid)."""
        tsquery = pg_tsquery(query)
        assert tsquery is not None
        rowid = _pgfts.c.rowid
        stmt = (
            _joined(select(rowid), rowid, where)
            .where(_pgfts.c.tsv.op("@@")(tsquery))
            .order_by(rowid.desc())
            .limit(n)
        )
        return [int(i) for i in conn.scalars(stmt)]

    def rank_all(
        self,
        conn: Connection,
        query: Query,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        offset: int,
    ) -> list[tuple[int, float]]:
        """Rank every match with ``ts_rank``."""
        tsquery = pg_tsquery(query)
        assert tsquery is not None
        rowid = _pgfts.c.rowid
        rank = func.ts_rank(_pgfts.c.tsv, tsquery)
        stmt = (
            _joined(select(rowid, rank), rowid, where)
            .where(_pgfts.c.tsv.op("@@")(tsquery))
            .order_by(rank.desc(), rowid.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(int(i), float(score)) for i, score in conn.execute(stmt)]

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
