"""Search results stay identical through the date-ordered index (revision 0005) and bounds.

The "before" results come from the code path that existed before: every match
sorted by date in SQL, no folder bounds. "After" comes from the date-ordered
index and the folder bounds, and again after migrating a filled library from
revision 0003 to the newest. Same ids, same order, every query kind, order,
filter and page, with the same snippets.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import ColumnElement, Connection, event

from annotator.core.types import Keyword
from annotator.library import Library, PhotoFile, db, open_library, search
from annotator.library import fts as fts_module
from annotator.library.fts import (
    SNIPPET_TOKENS,
    FullTextIndex,
    SQLiteFTS5,
    fts5_expression,
    path_under,
)
from annotator.library.query import Query
from annotator.library.testing import caption_result

WORDS = ["dog", "cat", "man", "woman", "beach", "snow", "grass", "red", "black", "runs"]
WORDS += ["jumps", "sits", "water", "ball"]
QUERIES = ["dog", "beach", "dog beach", "ru*", "sn*", '"black dog"', '"red ball"', "animal"]
QUERIES += ["dog -snow", "person", "zebra"]
ORDERS = ("relevance", "date", "confidence")


def _path(root: Path, i: int) -> Path:
    """Return photo ``i``'s path: folders f0, f1, f2 and f10/sub (f1 is a prefix of f10)."""
    return root / ("f10/sub" if i % 10 == 0 else f"f{i % 3}") / f"p{i:04d}.jpg"


def _fill(library: Library, root: Path, n: int = 240) -> None:
    """Add ``n`` captioned photos in three folders, many dates within the same minute."""
    rng = random.Random(7)
    root.mkdir(exist_ok=True)
    root_id = library.add_root(root).id
    base = datetime(2021, 6, 1, 12, 0, tzinfo=UTC)
    files = []
    for i in range(n):
        # A few minutes only (ties within a minute), some photos before 1970.
        if i % 9 == 0:
            taken = datetime(1965, 3, 1, 8, 30, rng.randrange(60), tzinfo=UTC)
        else:
            taken = base + timedelta(seconds=rng.randrange(300), microseconds=rng.randrange(9))
        path = _path(root, i)
        files.append(
            PhotoFile(path, f"h{i}", 100 + i, 1.6e9 + rng.randrange(10**6), taken_at=taken)
        )
    ids = [r.photo_id for r in library.upsert_photos(root_id, files)]
    library.enqueue(ids)
    jobs = library.claim_jobs(len(ids))
    results = []
    for job in jobs:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
        # Half the captions fall in one of three millionths of confidence, in no id
        # order within it: ties of the confidence index's key, sorted exactly. A quarter
        # share one exact value (the lowest): a millionth already in id order.
        tied = (
            rng.choice([-1.0, -0.5, -0.25]) + rng.randrange(9) * 1e-8 if job.photo_id % 2 else None
        )
        if job.photo_id % 4 == 2:
            tied = -4.0
        res = caption_result(words, rng=np.random.default_rng(job.photo_id), confidence=tied)
        results.append((job.job_id, res, "v1"))
    library.complete_jobs(results)
    for photo_id in ids[:30:3]:
        library.add_keywords(photo_id, [Keyword("dog", ("Animals", "Dog"), None)])


Hit = tuple[int, str, float | None]  # caption id, snippet, score


def _results(library: Library, root: Path) -> dict[tuple[Any, ...], list[Hit]]:
    """Return the hits of every query, order, folder and page (rank windows 5 and 100)."""
    out = {}
    for q in QUERIES:
        for order in ORDERS:
            windows = (5, 100) if order == "relevance" else (5,)
            for folder in (None, str(root / "f1"), str(root / "f10"), str(root / "nothing")):
                for (limit, offset), window in product(((20, 0), (7, 5), (500, 0)), windows):
                    hits = library.search(
                        q, order_by=order, limit=limit, offset=offset, folder=folder,
                        rank_window=window,
                    )  # fmt: skip
                    out[(q, order, folder, limit, offset, window)] = [
                        (h.caption_id, h.snippet, h.score) for h in hits
                    ]
    return out


def _bm25_among_matches(
    fts: SQLiteFTS5,
    conn: Connection,
    query: Query,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    offset: int,
    bounds: Any = None,
    cap: int,
) -> list[tuple[int, float]] | None:
    """Rank the matches by FTS5's bm25 in a database of their own (the product's promise).

    The matches (every caption that matches ``query`` and ``where``) are copied into
    a fresh in-memory FTS5 table with the library's tokenizer, so that bm25's
    document count, lengths and IDFs are those of the matches; best first, then the
    newest caption. None when more than ``cap`` match.
    """
    ids = fts.first_ids(conn, query, where, 10**9)
    if len(ids) > cap:
        return None
    marks = ",".join("?" * len(ids))
    docs = conn.exec_driver_sql(
        f"SELECT rowid, text, keywords FROM captions_fts WHERE rowid IN ({marks})", tuple(ids)
    ).all()
    own = sqlite3.connect(":memory:")
    own.execute(
        "CREATE VIRTUAL TABLE m USING fts5(text, keywords, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    own.executemany("INSERT INTO m(rowid, text, keywords) VALUES (?, ?, ?)", docs)
    scored = own.execute(
        "SELECT rowid, -bm25(m) FROM m WHERE m MATCH ?", (fts5_expression(query),)
    ).fetchall()
    own.close()
    scored.sort(key=lambda r: (-r[1], -r[0]))
    return [(int(i), float(score)) for i, score in scored[offset : offset + limit]]


def _snippets_in_place(
    conn: Connection, query: Query, ids: Sequence[int], marks: tuple[str, str]
) -> dict[int, str]:
    """Return ``snippet()`` computed on ``captions_fts`` itself (the product's old way)."""
    expression = fts5_expression(query, with_excluded=False)
    if expression is None or not ids:
        return {}
    rows = conn.exec_driver_sql(
        "SELECT rowid, snippet(captions_fts, 0, ?, ?, '…', ?) FROM captions_fts "
        f"WHERE captions_fts MATCH ? AND rowid IN ({','.join('?' * len(ids))})",
        (marks[0], marks[1], SNIPPET_TOKENS, expression, *ids),
    )
    return {int(i): s for i, s in rows}


def _old_path(library: Library, monkeypatch: pytest.MonkeyPatch) -> dict[Any, list[Any]]:
    """Return the results (ids and snippets) of the plain code path.

    No date- or confidence-ordered index, no folder bounds, no indexed folder
    condition, the "not missing" condition joined even when no photo is missing, and
    (SQLite) the matches found only through concept expansion ranked by
    :func:`_bm25_among_matches` and the snippets computed on the library's index
    (:func:`_snippets_in_place`).
    """
    fts = library.fts
    with monkeypatch.context() as m:
        m.setattr(fts, "by_date", lambda *a, **k: None)
        m.setattr(fts, "bounds", lambda *a, **k: None)
        m.setattr(fts, "by_confidence", lambda *a, **k: None)
        m.setattr(search, "_any_missing", lambda conn: True)
        # The folder as a plain comparison of the path's first characters, and the
        # expansion tier's "not a literal match" as NOT IN (revision 0005's forms).
        m.setattr(fts, "under", path_under)
        m.setattr(fts, "unmatched", lambda query, bounds=None: ~fts.matches(query, bounds))
        m.setattr(fts, "count_upto", partial(FullTextIndex.count_upto, fts))  # plain LIMIT
        # Ranked and newest pages built as expressions (SQLite writes them out).
        m.setattr(fts, "rank_all", partial(FullTextIndex.rank_all, fts))
        m.setattr(fts, "newest", partial(FullTextIndex.newest, fts))
        if isinstance(fts, SQLiteFTS5):
            m.setattr(fts, "rank_among", partial(_bm25_among_matches, fts))
            m.setattr(fts, "snippets", _snippets_in_place)
        return _results(library, library.roots()[0].path)


def test_date_index_gives_identical_results(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    library = open_library(db_url)
    try:
        _fill(library, root)
        before = _old_path(library, monkeypatch)
        assert any(len(v) > 20 for v in before.values())  # broad queries took the new path
        assert before == _results(library, root)
        with monkeypatch.context() as m:  # every page's snippets from a copy of its documents
            m.setattr(fts_module, "SPREAD", 0)
            assert before == _results(library, root)
    finally:
        library.close()

    engine = db.create_library_engine(db.resolve_location(db_url)[0])
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    db.upgrade(engine)  # revision 0005 indexes the captions already there
    engine.dispose()
    library = open_library(db_url)
    try:
        library.check_index()
        assert _results(library, root) == before
    finally:
        library.close()


def test_date_index_follows_changes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    library = open_library(db_url)
    try:
        _fill(library, root, n=60)
        root_id = library.roots()[0].id
        # New dates (rescan), a new caption, keywords, a deleted photo.
        moved = [
            PhotoFile(_path(root, i), f"h{i}", 100 + i, 1.7e9 + i,
                      taken_at=datetime(1999, 1, 1, tzinfo=UTC) + timedelta(seconds=i))
            for i in range(0, 30, 3)
        ]  # fmt: skip
        library.upsert_photos(root_id, moved)
        first = library.search("dog", order_by="date", limit=1000)[0].photo_id
        library.add_human_revision(first, "a dog on the moon", origin="gui")
        library.add_keywords(first + 1, [Keyword("moon", ("Places", "Moon"), None)])
        library.check_index()
        before = _old_path(library, monkeypatch)
        assert before == _results(library, root)
        # Photos gone from disk: hidden from every order, with or without a folder.
        gone = [_path(root, i) for i in range(1, 60, 4)]
        assert library.mark_missing(gone) == len(gone)
        before = _old_path(library, monkeypatch)
        assert before == _results(library, root)
        assert any(before.values())
        hidden = {h.photo_id for h in library.search("", include_missing=True, limit=100)}
        shown = {h.photo_id for h in library.search("", limit=100)}
        assert len(hidden - shown) == len(gone)
        assert library.remove_root(root_id) > 0
        library.check_index()
        assert library.search("dog", order_by="date") == []
    finally:
        library.close()


def test_scratch_tables_outlive_searches_but_not_their_rows(
    sqlite_library: Library, tmp_path: Path
) -> None:
    """The TEMP tables stay in each connection, empty after every search; same results either way.

    Created at the connection's checkout (not within the read transaction, where the
    rollback would drop them), they keep no rows: the inserts go with the rollback. A
    connection without them (created within the transaction, then dropped) gives the
    same results.
    """
    root = tmp_path / "photos"
    _fill(sqlite_library, root, n=60)
    with_tables = _results(sqlite_library, root)
    hits = sqlite_library.search("person", limit=20)  # expansion only: ranked in captions_rank
    assert hits and all(h.expanded for h in hits)
    with sqlite_library.engine.connect() as conn:
        for name in (fts_module.RANK_TABLE, fts_module.SNIPPET_TABLE):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM temp.{name}").scalar() == 0
    event.remove(sqlite_library.engine, "checkout", fts_module._create_scratch)
    sqlite_library.engine.dispose()  # new connections, without the tables
    assert _results(sqlite_library, root) == with_tables
    with sqlite_library.engine.connect() as conn:
        gone = "SELECT count(*) FROM sqlite_temp_master WHERE name = ?"
        assert conn.exec_driver_sql(gone, (fts_module.RANK_TABLE,)).scalar() == 0
