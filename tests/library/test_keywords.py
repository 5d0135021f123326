"""Store keywords with their source, search them with captions, expand general words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, text

from annotator.core.types import Keyword
from annotator.library import Library, db, open_library
from annotator.library.schema import PhotoKeyword
from annotator.library.testing import caption_result, complete_job

CAT = Keyword("cat", ("Animals", "Mammals", "Cat"), 0.91)
SOFA = Keyword("sofa", ("Furniture", "Sofa"), 0.55)


def _caption(
    lib: Library, pid: int, words: str, keywords: tuple[Keyword, ...], version: str = "v1"
) -> int:
    lib.enqueue([pid])
    (job,) = [j for j in lib.claim_jobs(100) if j.photo_id == pid]
    result = caption_result(words, rng=np.random.default_rng(pid), keywords=keywords)
    return complete_job(lib, job.job_id, result, version)


def found(lib: Library, query: str, **kw: object) -> list[int]:
    return [h.photo_id for h in lib.search(query, **kw)]


def test_model_keywords_are_stored_searched_and_shown(
    library: Library, add_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    other = add_photo(library)
    _caption(library, pid, "a man is wearing a blue shirt", (CAT, SOFA))
    _caption(library, other, "a dog runs on the grass", ())
    stored = {k.word: k for k in library.keywords(pid)}
    assert set(stored) == {"cat", "sofa"}
    assert stored["cat"].source == "model"
    assert stored["cat"].model_version == "v1"
    assert stored["cat"].probability == pytest.approx(0.91)
    assert stored["cat"].hierarchy == ("Animals", "Mammals", "Cat")
    assert found(library, "cat", exact=True) == [pid]  # the caption never says "cat"
    assert found(library, "cats sofa", exact=True) == [pid]  # stemmed, across keywords
    assert found(library, "mammals", exact=True) == [pid]  # a level of the hierarchy
    assert found(library, "blue cat", exact=True) == [pid]  # caption word + keyword
    (hit,) = library.search("cat")
    assert hit.keywords == ("cat", "sofa")  # most probable first
    assert found(library, "", keyword="CAT") == [pid]
    assert found(library, "", keyword="animals") == [pid]  # a hierarchy level
    assert found(library, "", keyword="anim") == []  # whole words or levels only
    assert found(library, "", keyword="50%_") == []
    library.check_index()


def test_a_persons_keywords_survive_recaptioning(
    library: Library, add_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    _caption(library, pid, "a cat on a sofa", (CAT, SOFA))
    assert library.add_keywords(pid, [Keyword("Tiger", (), None, "human")]) == 1
    assert library.remove_keyword(pid, "SOFA")
    _caption(library, pid, "a cat sleeps", (Keyword("sofa", (), 0.8), Keyword("pillow", (), 0.6)))
    words = {k.word: k.source for k in library.keywords(pid)}
    assert words == {"Tiger": "human", "pillow": "model"}  # the new run replaced cat; no sofa
    assert found(library, "sofa", exact=True) == []
    assert found(library, "tiger", exact=True) == [pid]
    # A keyword found in the photo does not bring back one a person removed...
    library.import_human_keywords(
        library.photo(pid).path, [Keyword("sofa", (), None, "human")], "XMP-dc:Subject"
    )
    assert "sofa" not in {k.word for k in library.keywords(pid)}
    # ...but typing it again does.
    library.add_keywords(pid, [Keyword("sofa", (), None, "human")])
    assert {k.word: k.source for k in library.keywords(pid)}["sofa"] == "human"
    library.check_index()


def test_keyword_changes_reach_the_index_through_triggers(
    library: Library, add_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    _caption(library, pid, "a sailing boat", (Keyword("sailboat", ("Vehicles", "Sailboat"), 0.7),))
    with library._write() as s:  # bypass the repository: only triggers can keep up
        s.execute(delete(PhotoKeyword).where(PhotoKeyword.photo_id == pid))
    assert found(library, "sailboat", exact=True) == []
    library.check_index()
    library.add_human_revision(pid, "our boat at sunset")
    library.add_keywords(pid, [Keyword("harbour", (), None, "human")])
    assert found(library, "harbour sunset", exact=True) == [pid]
    library.check_index()


def test_concept_search_finds_specific_words_after_literal_ones(
    library: Library, add_photo: Callable[..., int]
) -> None:
    man = add_photo(library)
    person = add_photo(library)
    dog = add_photo(library)
    pizza = add_photo(library)
    _caption(library, man, "a man is climbing a rock", ())
    _caption(library, person, "a person is climbing a rock", ())
    _caption(library, dog, "a brown dog runs through the snow", ())
    _caption(library, pizza, "a plate with a slice of pizza", ())
    hits = library.search("person")
    assert [h.photo_id for h in hits] == [person, man]  # literal match first
    assert [h.expanded for h in hits] == [False, True]
    assert "[man]" in hits[1].snippet
    assert found(library, "person", exact=True) == [person]
    assert found(library, "person", prefix_last=True) == [person, man]  # as you type
    assert found(library, "animal") == [dog]
    assert found(library, "animals") == [dog]
    assert found(library, "food") == [pizza]
    assert found(library, "person climbing") == [person, man]
    assert found(library, "person", offset=1) == [man]  # pages continue past the literal ones
    assert found(library, "person", order_by="date") != []
    assert set(found(library, "person -man")) == {person}


@pytest.mark.parametrize(
    "query",
    ['"', "person*", "-person", "person OR", 'NOT "animal', "person" * 400, "ḟöód ❤ 🍕", "\x00"],
)
def test_hostile_queries_never_raise(
    sqlite_library: Library, add_photo: Callable[..., int], query: str
) -> None:
    pid = add_photo(sqlite_library)
    _caption(sqlite_library, pid, "a man eats pizza", (CAT,))
    sqlite_library.search(query)
    sqlite_library.search(query, keyword=query)
    sqlite_library.search(query, order_by="confidence", prefix_last=True)


def test_photos_captioned_before_keywords_are_recaptioned(
    library: Library, add_photo: Callable[..., int]
) -> None:
    old = add_photo(library)
    new = add_photo(library)
    cid = _caption(library, old, "a dog on the beach", ())
    _caption(library, new, "a cat on a wall", ())  # the model found no keyword: stays
    with library._write() as s:
        s.execute(text("UPDATE captions SET keywords = NULL WHERE id = :i"), {"i": cid})
    assert library.photos_to_recaption("v1") == [old]
    assert library.photos_to_recaption("v2") == [old, new]


def test_migration_from_0002_keeps_captions_searchable(db_url: str, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    url, _ = db.resolve_location(db_url)
    engine = db.create_library_engine(url)
    db.upgrade(engine, "0002")
    with engine.begin() as conn:
        stamp = "2024-05-01 12:00:00"
        conn.execute(
            text("INSERT INTO roots (path, paused, added_at) VALUES (:p, :f, :t)"),
            {"p": str(photos), "f": False, "t": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO photos (root_id, path, content_hash, size, mtime, photo_date,"
                " state, added_at, updated_at) SELECT id, :p, 'h', 10, 1.0, :t, 'captioned',"
                " :t, :t FROM roots"
            ),
            {"p": str(photos / "1.jpg"), "t": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO captions (photo_id, text, source, model_version, reviewed,"
                " is_current, created_at) SELECT id, 'a woman rides a horse', 'model', 'v0',"
                " :f, :tr, :t FROM photos"
            ),
            {"f": False, "tr": True, "t": stamp},
        )
    engine.dispose()
    library = open_library(db_url)
    try:
        assert db.current_revision(library.engine) == db.head_revision()
        (pid,) = found(library, "horse")
        assert found(library, "person") == [pid]
        assert library.photos_to_recaption("v0") == [pid]  # no keywords yet
        library.add_keywords(pid, [Keyword("Pferd", ("Tiere", "Pferd"), None, "human")])
        assert found(library, "tiere") == [pid]
        library.check_index()
    finally:
        library.close()
