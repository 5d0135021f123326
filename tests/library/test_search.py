"""Search captions: matching, ranking, filters, order, snippets, hostile input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from annotator.library import Library

CAPTIONS = {
    "dog_beach": "a black dog runs along the beach",
    "dogs_snow": "two dogs play in the snow and a dog barks",
    "bike": "a man rides a bicycle through the city",
    "biker": "a bicyclist waits at a red light",
    "kite": "a red kite flies over the beach",
    "cafe": "a woman drinks coffee in a café",
}


@pytest.fixture
def corpus(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> dict[str, int]:
    ids = {}
    for name, text in CAPTIONS.items():
        ids[name] = add_photo(library, f"{name}.jpg")
        caption_photo(library, ids[name], text)
    return ids


def names(hits: list, corpus: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in corpus.items()}
    return [by_id[h.photo_id] for h in hits]


def test_one_word_matches_stems_and_ranks(library: Library, corpus: dict[str, int]) -> None:
    hits = library.search("dog")
    assert set(names(hits, corpus)) == {"dog_beach", "dogs_snow"}
    assert names(hits, corpus)[0] == "dogs_snow"  # "dogs ... dog": two matches rank first
    assert hits[0].score is not None and hits[0].score >= hits[1].score
    assert hits[0].snippet == "two [dogs] play in the snow and a [dog] barks"


def test_two_words_phrase_or_and_exclusion(library: Library, corpus: dict[str, int]) -> None:
    assert set(names(library.search("red beach"), corpus)) == {"kite"}
    assert set(names(library.search('"red light"'), corpus)) == {"biker"}
    assert set(names(library.search('"light red"'), corpus)) == set()
    assert set(names(library.search("kite OR coffee"), corpus)) == {"kite", "cafe"}
    assert set(names(library.search("beach -kite"), corpus)) == {"dog_beach"}
    without_beach = set(names(library.search("NOT beach"), corpus))
    assert without_beach == set(CAPTIONS) - {"dog_beach", "kite"}


def test_prefix_queries(library: Library, corpus: dict[str, int]) -> None:
    assert set(names(library.search("bic*"), corpus)) == {"bike", "biker"}
    assert set(names(library.search("bic"), corpus)) == set()
    assert set(names(library.search("man rides a bic", prefix_last=True), corpus)) == {"bike"}
    assert set(names(library.search('"red ki"*'), corpus)) == {"kite"}


def test_unicode_and_diacritics(library: Library, corpus: dict[str, int]) -> None:
    assert set(names(library.search("café"), corpus)) == {"cafe"}
    assert set(names(library.search("CAFÉ"), corpus)) == {"cafe"}
    # FTS5 folds diacritics (remove_diacritics 2); PostgreSQL's "english" config does not.
    accent_free = {"cafe"} if library.dialect == "sqlite" else set()
    assert set(names(library.search("cafe"), corpus)) == accent_free


HOSTILE = [
    "",
    " ",
    "\t\n",
    '"',
    '""',
    '"""',
    "'",
    'dog"',
    '"dog',
    'dog "beach',
    "*",
    "**",
    "dog*",
    "*dog",
    "d*o*g",
    "^dog",
    "dog^",
    ":",
    "text:dog",
    "captions_fts:dog",
    "(",
    ")",
    "(dog",
    "dog)",
    "((()))",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(dog beach)",
    "dog AND",
    "OR dog",
    "dog NOT",
    "NOT NOT NOT",
    "dog OR OR beach",
    "- -dog",
    "--",
    "+dog",
    "{dog beach}:x",
    "dog'; DROP TABLE captions; --",
    "\\",
    "\\dog\\",
    "%",
    "_",
    "dog%",
    "\x00",
    "dog\x00beach",
    "🐶",
    "🐶 dog 🏖️",
    "犬",
    "ß",
    "ﬁ",
    "İstanbul",
    "\u200b",
    "\ufeff dog",
    "a" * 5000,
    " ".join(["dog"] * 500),
    "-" * 100,
    '"' * 101,
    "@#$%^&*()[]{}<>?/|~`",
    "'dog'",
    "dog:*",
    "'dog':*",
    "dog & beach",
    "!dog",
    "dog <-> beach",
    "dog | cat",
    "!!dog",
]


@pytest.mark.parametrize("prefix_last", [False, True])
def test_hostile_queries_never_raise(
    library: Library, corpus: dict[str, int], prefix_last: bool
) -> None:
    for query in HOSTILE:
        for order in ("relevance", "date", "confidence"):
            hits = library.search(query, prefix_last=prefix_last, order_by=order, limit=10)
            assert isinstance(hits, list), query
    # Syntax is ignored, words still match.
    assert set(names(library.search("(dog beach)"), corpus)) == {"dog_beach"}
    assert set(names(library.search('beach: "kite"^'), corpus)) == {"kite"}
    assert set(names(library.search("dog'; DROP TABLE captions; --"), corpus)) == set()
    assert set(names(library.search("(dog"), corpus)) == {"dog_beach", "dogs_snow"}
    assert set(names(library.search("🐶 dog 🏖️"), corpus)) == {"dog_beach", "dogs_snow"}
    assert len(library.search("", limit=100)) == len(CAPTIONS)
    assert library.search("dog", limit=0) == []
    library.check_index()  # nothing above touched the database


def test_filters(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    a = add_photo(library, "2023/a.jpg")
    b = add_photo(library, "2024/b.jpg")
    c = add_photo(library, "2024x/c.jpg")  # a sibling folder whose name starts like "2024"
    for pid in (a, b, c):
        caption_photo(library, pid, "a dog in the garden", version="v1" if pid != c else "v2")
    library.set_reviewed(a)
    library.add_human_revision(b, "a dog in our garden", reviewed=False)

    def ids(**filters: object) -> set[int]:
        return {h.photo_id for h in library.search("dog", **filters)}

    assert ids() == {a, b, c}
    assert ids(folder=photos_dir / "2024") == {b}
    assert ids(folder=str(photos_dir / "2024") + "/") == {b}
    assert ids(folder=photos_dir) == {a, b, c}
    assert ids(reviewed=True) == {a}
    assert ids(reviewed=False) == {b, c}
    assert ids(human_edited=True) == {b}
    assert ids(human_edited=False) == {a, c}
    assert ids(model_version="v2") == {c}
    assert ids(root_id=library.roots()[0].id) == {a, b, c}
    assert ids(root_id=999) == set()
    # add_photo sets mtime 1_700_000_000 + n: 2023-11-14 22:13:2x UTC
    assert ids(date_from=date(2023, 11, 14), date_to=date(2023, 11, 14)) == {a, b, c}
    assert ids(date_from=date(2023, 11, 15)) == set()
    cut = library.photo(b).photo_date
    assert ids(date_from=cut) == {b, c}
    assert ids(date_to=cut) == {a, b}
    assert ids(date_to=datetime(2020, 1, 1, tzinfo=UTC)) == set()
    # filters apply to the empty query too
    assert {h.photo_id for h in library.search("", reviewed=True)} == {a}


# Folders whose names hold LIKE wildcards (%, _), the escape character (\\), a prefix of
# a sibling's name, or differ only in case; each pair's second folder is the one an
# unescaped, case-insensitive or unanchored comparison would also let through.
TRICKY_FOLDERS = [
    ("50%", "50x"),
    ("a_b", "axb"),
    ("x\\y", "xy"),
    ("p\\%q", "p\\zq"),
    ("b", "bc"),
    ("Case", "case"),
    ("s\\_t", "s\\xt"),
]


@pytest.mark.parametrize("order", ["relevance", "date", "confidence"])
@pytest.mark.parametrize("query", ["dog", "animal", ""])
def test_folder_filter_matches_the_folder_exactly(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
    query: str,
    order: str,
) -> None:
    by_folder: dict[str, set[int]] = {}
    for pair in TRICKY_FOLDERS:
        for folder in pair:
            for name in (f"{folder}/one.jpg", f"{folder}/deeper/two.jpg"):
                pid = add_photo(library, name)
                caption_photo(library, pid, "a dog on the grass")
                by_folder.setdefault(folder, set()).add(pid)
    assert len(by_folder) == 2 * len(TRICKY_FOLDERS)  # the file system kept them apart

    for folder, expected in by_folder.items():
        for given in (photos_dir / folder, f"{photos_dir / folder}/"):
            hits = library.search(query, order_by=order, folder=given, limit=100)
            assert {h.photo_id for h in hits} == expected, (folder, given)
    everything = set().union(*by_folder.values())
    found = library.search(query, order_by=order, folder=photos_dir, limit=100)
    assert {h.photo_id for h in found} == everything
    deeper = library.search(query, order_by=order, folder=photos_dir / "b" / "deeper")
    assert [h.path for h in deeper] == [photos_dir / "b" / "deeper" / "two.jpg"]


def test_orders(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    from annotator.core.types import CaptionResult
    from annotator.library.testing import caption_result

    def with_confidence(text: str, lp: float) -> CaptionResult:
        return caption_result(text, confidence=lp, model_id="m", n_alternatives=0)

    first = add_photo(library)
    second = add_photo(library)
    third = add_photo(library)
    caption_photo(library, first, "", result=with_confidence("a dog sleeps", -0.2))
    caption_photo(library, second, "", result=with_confidence("a dog eats", -2.0))
    caption_photo(library, third, "", result=with_confidence("a dog jumps", -1.0))
    library.add_human_revision(first, "a dog sleeps soundly")

    by_date = [h.photo_id for h in library.search("dog", order_by="date")]
    assert by_date == [third, second, first]  # newer mtime first
    by_conf = [h.photo_id for h in library.search("dog", order_by="confidence")]
    assert by_conf == [second, third, first]  # least confident first, human last
    assert [h.photo_id for h in library.search("", order_by="confidence")] == by_conf
    assert all(h.score is None for h in library.search("dog", order_by="date"))
    assert [h.photo_id for h in library.search("dog", limit=2, offset=1, order_by="date")] == [
        second,
        first,
    ]
    with pytest.raises(ValueError, match="order_by"):
        library.search("dog", order_by="random")  # type: ignore[arg-type]


def test_rank_window_bounds_ranking_but_finds_everything(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    strong = add_photo(library)
    caption_photo(library, strong, "dog dog dog")
    weak = [add_photo(library) for _ in range(12)]
    for pid in weak:
        caption_photo(library, pid, "a dog sits on a chair near a small table")
    exact = library.search("dog", rank_window=None)
    assert exact[0].photo_id == strong and len(exact) == 13
    assert all(h.score is not None for h in exact)
    # A window of 20 covers all 13 matches: ranked by relevance.
    page = library.search("dog", rank_window=20, limit=5)
    assert page[0].photo_id == strong and len(page) == 5
    assert page[0].score is not None and page[0].score > page[1].score
    # More matches than the window: the newest come first, unscored, and paging walks
    # through all of them in the same order.
    newest = library.search("dog", rank_window=5, limit=2)
    assert [h.photo_id for h in newest] == weak[::-1][:2]
    assert all(h.score is None for h in newest)
    walked = [
        h.photo_id
        for off in range(0, 14, 2)
        for h in library.search("dog", rank_window=5, limit=2, offset=off)
    ]
    assert walked == [*weak[::-1], strong]


def test_hit_fields_and_json(library: Library, corpus: dict[str, int]) -> None:
    hit = library.search("kite", highlight=("<b>", "</b>"))[0]
    assert hit.snippet == "a red <b>kite</b> flies over the beach"
    assert hit.text == CAPTIONS["kite"]
    assert hit.path.name == "kite.jpg" and hit.path.is_absolute()
    assert hit.source == "model" and hit.model_version == "v1" and not hit.reviewed
    assert hit.confidence is not None and not hit.missing
    data = hit.to_json()
    assert data["path"] == str(hit.path) and isinstance(data["photo_date"], str)


def test_missing_photos_never_crowd_out_a_page(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    present = [add_photo(library, f"keep{i}.jpg") for i in range(2)]
    gone = [add_photo(library, f"gone{i}.jpg") for i in range(14)]
    for pid in present + gone:
        caption_photo(library, pid, "an owl on a branch")
    for i in range(14):
        (photos_dir / f"gone{i}.jpg").unlink()
    assert library.mark_missing(photos_dir / f"gone{i}.jpg" for i in range(14)) == 14
    # The 14 newest matches are missing: ranking must still fill the page with the others.
    assert {h.photo_id for h in library.search("owl", limit=2)} == set(present)
    assert len(library.search("owl", limit=50, include_missing=True)) == 16
    assert all(
        h.missing == (h.photo_id in gone) for h in library.search("owl", include_missing=True)
    )


def test_confidence_pages_run_from_model_to_human_captions(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    from annotator.library.testing import caption_result

    ids = [add_photo(library) for _ in range(5)]
    for pid, lp in zip(ids, (-0.5, -2.5, -1.5, -0.1, -3.0), strict=True):
        result = caption_result("a heron by a pond", confidence=lp, model_id="m", n_alternatives=0)
        caption_photo(library, pid, "", result=result)
    library.add_human_revision(ids[3], "a grey heron")
    library.add_human_revision(ids[0], "a heron fishing")
    expected = [ids[4], ids[1], ids[2], ids[3], ids[0]]  # -3.0, -2.5, -1.5, then humans
    for query in ("", "heron"):
        pages = [
            [h.photo_id for h in library.search(query, order_by="confidence", limit=2, offset=off)]
            for off in (0, 2, 4, 6)
        ]
        assert pages == [expected[0:2], expected[2:4], expected[4:], []], query


def test_postgresql_folder_filter_uses_the_path_prefix_index(pg_url: str) -> None:
    from sqlalchemy import select

    from annotator.library import open_library
    from annotator.library.schema import Photo

    library = open_library(pg_url)
    try:
        with library.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: show the choice
            stmt = select(Photo.id).where(library.fts.under("/photos/50%_x\\y/"))
            compiled = stmt.compile(dialect=conn.dialect)
            plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())
    finally:
        library.close()
    assert "ix_photos_path_prefix" in plan
    # The escaped wildcards stay literal in the index range: the prefix is the whole folder.
    assert "~>=~ '/photos/50%_x\\y/'" in plan
