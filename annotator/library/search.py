"""Search current captions: filters, ordering, snippets; dialect SQL stays in ``fts``.

``run_search`` parses the user's text (:mod:`annotator.library.query`, which
never raises), applies the filters, orders the hits and highlights them:

order_by ``"relevance"``
    bm25 (SQLite) / ts_rank (PostgreSQL), best first, for a query with at most
    ``rank_window`` matches; a broader query lists its most recently captioned
    matches first, unscored (see :mod:`annotator.library.fts`: ranking every
    match of a common word would take O(matches)). With no words to match, the
    order is by date.
order_by ``"date"``
    the photo's date (taken, else modified), newest first.
order_by ``"confidence"``
    the model's mean word log-probability, least confident first (for review;
    human captions, which have none, come last).

Both orders stop early on SQLite: the search walks the full-text index kept in
that order (:mod:`annotator.library.fts`, revision 0005) and stops after the page.
Elsewhere (PostgreSQL, or a folder with confidence order) a narrow query's few
matches are sorted, a broad one's matches are filtered along the order's index.

Concept search: unless ``exact``, each plain query word is OR-ed with the more
specific words under it (:mod:`annotator.library.concepts`: ``person`` also
matches "man", "woman", "boy"). Ranked by relevance, photos matching the words
as typed come first (bm25 as above), then those found only through the expansion
(``SearchHit.expanded``), ranked among themselves: bm25 with the document count,
lengths and IDFs of those matches (``FullTextIndex.rank_among``; on PostgreSQL
ts_rank, which uses no collection statistics). Library-wide IDFs of a 60-word
expansion would cost a scan of 60 doclists per search. Captions and keywords are
searched together: the index holds each current caption with its photo's keywords.

Filters: ``keyword`` (the photo has that keyword, or it as a level of a
keyword's hierarchy; case-insensitive), ``root_id``, ``folder`` (an absolute
folder: photos anywhere under it, the path compared exactly, case included; on
PostgreSQL ``LIKE 'folder/%'`` with its wildcards escaped, served by the
``text_pattern_ops`` index of revision 0006),
``reviewed``, ``human_edited`` (the current caption is a person's), ``model_version``
(the current caption was written by that model version), ``date_from`` /
``date_to`` (inclusive, on the photo date), ``include_missing`` (missing photos
are hidden unless True). A query with no words lists every caption that passes
the filters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, SQLColumnExpression, false, func, select

from annotator.library import keywords as keyword_store
from annotator.library.concepts import expand
from annotator.library.fts import Bounds, FullTextIndex, Page, path_under
from annotator.library.query import Query, parse
from annotator.library.schema import Caption, CaptionSource, Photo, PhotoState, Root

OrderBy = Literal["relevance", "date", "confidence"]
ORDERS: tuple[str, ...] = ("relevance", "date", "confidence")
DEFAULT_RANK_WINDOW = 2000
MAX_LIMIT = 10_000
_SPARE = 8  # extra ranked hits fetched to make up for missing photos


@dataclass(frozen=True)
class SearchHit:
    """One photo found by a search, with its current caption."""

    photo_id: int
    caption_id: int
    path: Path
    root_id: int
    text: str
    snippet: str  # the caption with matched words wrapped in the highlight marks
    score: float | None  # relevance, higher is better; None when not ranked
    source: str  # "model" or "human"
    reviewed: bool
    confidence: float | None
    model_version: str | None
    photo_date: datetime
    missing: bool
    keywords: tuple[str, ...] = ()  # the photo's keywords, a person's first
    expanded: bool = False  # found only through concept expansion ("person" -> "man")

    def to_json(self) -> dict[str, Any]:
        """Return the hit as JSON-ready values."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["photo_date"] = self.photo_date.isoformat()
        data["keywords"] = list(self.keywords)
        return data


def _as_datetime(value: datetime | date, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = datetime.combine(value, time.min, tzinfo=UTC)
    return day + timedelta(days=1) - timedelta(microseconds=1) if end else day


def build_filters(
    *,
    root_id: int | None = None,
    folder: str | None = None,
    reviewed: bool | None = None,
    human_edited: bool | None = None,
    model_version: str | None = None,
    date_from: datetime | date | None = None,
    date_to: datetime | date | None = None,
    keyword: str | None = None,
    include_missing: bool = False,
    index: FullTextIndex | None = None,
) -> list[ColumnElement[bool]]:
    """Return the filter conditions on ``Caption`` and ``Photo``.

    ``index`` gives the dialect's form of the folder condition (the default form
    otherwise).
    """
    where: list[ColumnElement[bool]] = []
    if keyword is not None and keyword_store.norm(keyword):
        where.append(keyword_store.has_keyword(keyword))
    if root_id is not None:
        where.append(Photo.root_id == root_id)
    if folder is not None:
        prefix = folder.rstrip(os.sep) + os.sep
        where.append(path_under(prefix) if index is None else index.under(prefix))
    if reviewed is not None:
        where.append(Caption.reviewed.is_(reviewed))
    if human_edited is not None:
        human = Caption.source == CaptionSource.HUMAN
        where.append(human if human_edited else ~human)
    if model_version is not None:
        where.append(Caption.model_version == model_version)
    if date_from is not None:
        where.append(Photo.photo_date >= _as_datetime(date_from, end=False))
    if date_to is not None:
        where.append(Photo.photo_date <= _as_datetime(date_to, end=True))
    if not include_missing:
        where.append(Photo.state != PhotoState.MISSING)
    return where


def _any_missing(conn: Connection) -> bool:
    """Return True if some photo is marked missing (one index lookup per root)."""
    found = select(Photo.id).where(Photo.root_id == Root.id, Photo.state == PhotoState.MISSING)
    return bool(conn.scalar(select(select(Root.id).where(found.exists()).exists())))


def _details(conn: Connection, caption_ids: list[int]) -> dict[int, Any]:
    """Return the rows a hit shows, by caption id."""
    if not caption_ids:
        return {}
    stmt = (
        select(
            Caption.id,
            Caption.photo_id,
            Photo.path,
            Photo.root_id,
            Caption.text,
            Caption.source,
            Caption.reviewed,
            Caption.confidence,
            Caption.model_version,
            Photo.photo_date,
            Photo.state,
        )
        .join(Photo, Photo.id == Caption.photo_id)
        .where(Caption.id.in_(caption_ids))
    )
    return {row.id: row for row in conn.execute(stmt)}


def _by_confidence(
    conn: Connection, conditions: Sequence[SQLColumnExpression[bool]], limit: int, offset: int
) -> list[int]:
    """Return a page of caption ids, least confident first, then human captions.

    Model captions come in (confidence, id) order, which the partial index
    ``ix_captions_current_confidence`` holds, so no sort is needed; human captions
    (no confidence) follow in id order.
    """

    def page(scored: bool, size: int, skip: int) -> list[int]:
        stmt = (
            select(Caption.id)
            .join(Photo, Photo.id == Caption.photo_id)
            .where(
                *conditions,
                Caption.confidence.is_not(None) if scored else Caption.confidence.is_(None),
            )
            .order_by(*([Caption.confidence.asc()] if scored else []), Caption.id.asc())
            .limit(size)
            .offset(skip)
        )
        return list(conn.scalars(stmt))

    ids = page(True, limit, offset)
    if len(ids) == limit:
        return ids
    if ids:  # the scored captions end on this page
        return ids + page(False, limit - len(ids), 0)
    scored = (
        conn.scalar(
            select(func.count())
            .select_from(Caption)
            .join(Photo, Photo.id == Caption.photo_id)
            .where(*conditions, Caption.confidence.is_not(None))
        )
        or 0
    )
    return page(False, limit, max(0, offset - int(scored)))


def _walk_ordered(
    conn: Connection,
    index: FullTextIndex,
    query: Query,
    where: list[ColumnElement[bool]],
    order_by: OrderBy,
    limit: int,
    offset: int,
    bounds: Bounds | None,
    marks: tuple[str, str],
) -> Page | None:
    """Return a page from the index kept in ``order_by`` order, or None to sort in SQL.

    A folder small enough to have ``bounds`` is cheaper to sort within its id range
    than to find by walking the whole confidence order.
    """
    if order_by == "date":
        return index.by_date(
            conn, query, where, limit=limit, offset=offset, bounds=bounds, marks=marks
        )
    if order_by == "confidence" and bounds is None:
        return index.by_confidence(conn, query, where, limit=limit, offset=offset, marks=marks)
    return None


def _literal_first(
    conn: Connection,
    index: FullTextIndex,
    literal: Query,
    expanded: Query,
    where: list[ColumnElement[bool]],
    *,
    window: int | None,
    limit: int,
    offset: int,
    bounds: Bounds | None = None,
) -> tuple[list[tuple[int, float | None]], set[int]]:
    """Return a page of the literal matches, then the matches found only by expansion.

    Also return the ids of the second kind.
    """
    ranked = index.ranked(
        conn, literal, where, window=window, limit=limit, offset=offset, bounds=bounds
    )
    if len(ranked) == limit:
        return ranked, set()
    n_literal = offset + len(ranked) if ranked else index.count(conn, literal, where, bounds)
    rest = index.ranked(
        conn,
        expanded,
        [*where, index.unmatched(literal, bounds)],
        window=window,
        limit=limit - len(ranked),
        offset=max(0, offset - n_literal),
        bounds=bounds,
        among=True,
    )
    return ranked + rest, {caption_id for caption_id, _ in rest}


def run_search(
    conn: Connection,
    index: FullTextIndex,
    query: str,
    *,
    order_by: OrderBy = "relevance",
    limit: int = 50,
    offset: int = 0,
    prefix_last: bool = False,
    highlight: tuple[str, str] = ("[", "]"),
    rank_window: int | None = DEFAULT_RANK_WINDOW,
    exact: bool = False,
    **filters: Any,
) -> list[SearchHit]:
    """Return up to ``limit`` hits for ``query`` (see the module docstring).

    Any text is a valid query. ``prefix_last`` makes the last word a prefix
    (search as you type). ``highlight`` gives the marks put around matches in
    ``SearchHit.snippet``. ``exact`` turns concept expansion off.
    """
    if order_by not in ORDERS:
        raise ValueError(f"order_by must be one of {', '.join(ORDERS)}, not {order_by!r}")
    limit = min(int(limit), MAX_LIMIT)
    offset = max(int(offset), 0)
    if limit <= 0:
        return []
    literal = parse(query, prefix_last=prefix_last)
    parsed = literal if exact else expand(literal)
    include_missing = bool(filters.pop("include_missing", False))
    # What the caller asked for:
    chosen = build_filters(include_missing=True, index=index, **filters)
    # "Not missing" holds for every photo when none is missing (the usual case): leaving
    # the condition out then changes no result and spares joining each match to photos.
    hide_missing = not include_missing and _any_missing(conn)
    where = [*chosen, Photo.state != PhotoState.MISSING] if hide_missing else chosen

    bounds = None
    folder = filters.get("folder")
    if folder is not None and parsed.groups:
        bounds = index.bounds(conn, folder.rstrip(os.sep) + os.sep)

    scores: dict[int, float | None] = {}
    found_snippets: dict[int, str] | None = None
    rows: dict[int, Any] = {}
    expanded: set[int] = set()
    if order_by == "relevance" and parsed is not literal:
        ranked, expanded = _literal_first(
            conn,
            index,
            literal,
            parsed,
            where,
            window=rank_window,
            limit=limit,
            offset=offset,
            bounds=bounds,
        )
        ids = [caption_id for caption_id, _ in ranked]
        scores = dict(ranked)
    elif order_by == "relevance" and parsed.groups:
        if chosen or not hide_missing:
            ranked = index.ranked(
                conn, parsed, where, window=rank_window, limit=limit, offset=offset, bounds=bounds
            )
        else:
            # Only the implicit "not missing" filter: rank without joining photos (much
            # faster), fetch a few spare hits and drop missing photos here. Missing
            # photos are rare; if they crowd out the page, rank again with the join.
            want = offset + limit + _SPARE
            ranked = index.ranked(conn, parsed, [], window=rank_window, limit=want, offset=0)
            rows = _details(conn, [cid for cid, _ in ranked])
            kept = [
                (cid, score)
                for cid, score in ranked
                if cid in rows and rows[cid].state is not PhotoState.MISSING
            ]
            if len(ranked) == want and len(kept) < offset + limit:
                ranked = index.ranked(
                    conn, parsed, where, window=rank_window, limit=limit, offset=offset
                )
                rows = {}
            else:
                ranked = kept[offset : offset + limit]
        ids = [caption_id for caption_id, _ in ranked]
        scores = dict(ranked)
    else:
        conditions = [Caption.is_current, *where]
        # An index kept in this order (SQLite) gives the page after reading about as
        # many matches as the page holds: nothing to count or sort first.
        newest = (
            _walk_ordered(conn, index, parsed, where, order_by, limit, offset, bounds, highlight)
            if parsed.groups
            else None
        )
        if newest is None and parsed.groups and rank_window is not None:
            # A narrow query: hand the planner the few matching ids, so that it sorts
            # them instead of walking the whole date (or confidence) index.
            # Counted first: a broad query (the usual case) needs no ids.
            # Within a folder's bounds, fetching the ids at once costs less than counting
            # them first: the bounds already keep them few.
            if bounds is not None:
                few = index.first_ids(conn, parsed, [], rank_window + 1, bounds)
                narrow = len(few) <= rank_window
            else:
                narrow = index.count_upto(conn, parsed, [], rank_window + 1) <= rank_window
                few = index.first_ids(conn, parsed, [], rank_window + 1) if narrow else []
            if narrow:
                conditions.append(Caption.id.in_(few) if few else false())
            else:
                conditions.append(index.matches(parsed, bounds))
        elif newest is None and not parsed.is_empty:
            conditions.append(index.matches(parsed, bounds))
        if newest is not None:
            ids = newest.ids
            found_snippets = newest.snippets
        elif order_by == "confidence":
            ids = _by_confidence(conn, conditions, limit, offset)
        else:
            # (photo_date, photos.id) is the order of ix_photos_photo_date: no sort.
            stmt = (
                select(Caption.id)
                .select_from(Photo)
                .join(Caption, Caption.photo_id == Photo.id)
                .where(*conditions)
                .order_by(Photo.photo_date.desc(), Photo.id.desc())
                .limit(limit)
                .offset(offset)
            )
            ids = list(conn.scalars(stmt))
    if not ids:
        return []
    if not rows:
        rows = _details(conn, ids)
    if found_snippets is not None:
        snippets = found_snippets
    else:
        snippets = index.snippets(conn, parsed, ids, highlight) if parsed.groups else {}
    words = keyword_store.words_for(conn, sorted({rows[i].photo_id for i in ids if i in rows}))
    hits = []
    for caption_id in ids:
        row = rows.get(caption_id)
        if row is None:  # deleted between the two statements
            continue
        hits.append(
            SearchHit(
                photo_id=row.photo_id,
                caption_id=caption_id,
                path=Path(row.path),
                root_id=row.root_id,
                text=row.text,
                snippet=snippets.get(caption_id, row.text),
                score=scores.get(caption_id),
                source=CaptionSource(row.source).value,
                reviewed=row.reviewed,
                confidence=row.confidence,
                model_version=row.model_version,
                photo_date=row.photo_date,
                missing=PhotoState(row.state) is PhotoState.MISSING,
                keywords=words.get(row.photo_id, ()),
                expanded=caption_id in expanded,
            )
        )
    return hits
