"""Check the shipped donor table against the keyword table and the shipped model."""

from __future__ import annotations

from pathlib import Path

from annotator.keywords.novel import load_novel_words
from annotator.keywords.table import load_table
from annotator.model.checkpoint import load_checkpoint

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "default.safetensors"


def test_every_keyword_missing_from_the_shipped_vocabulary_has_a_donor() -> None:
    vocab = load_checkpoint(SHIPPED).vocab
    rows = {r.word: r for r in load_novel_words()}
    missing = {
        e.keyword
        for e in load_table()
        if not e.suppressed and not any(f in vocab for f in e.synonyms)
    }
    assert len(missing) > 300  # lion, zebra, shark, space shuttle ...
    for word in sorted(missing):
        assert word in rows, f"{word!r} has no donor row"
        assert any(d in vocab for d in rows[word].donors), (word, rows[word].donors)
    for row in rows.values():
        assert row.word not in vocab, f"{row.word!r} is already a caption word"
        assert all(" " not in d for d in row.donors)  # donors are single caption words
        assert row.keyword in {e.keyword for e in load_table()}


def test_plural_rows_name_the_same_keyword() -> None:
    rows = {r.word: r for r in load_novel_words()}
    assert rows["lions"].keyword == "lion" and rows["lion"].donors[0] != rows["lions"].donors[0]
    # a keyword of two words is one token, with a one-word donor
    assert rows["pickup truck"].donors[0] == "truck" and rows["pickup trucks"].keyword == (
        "pickup truck"
    )
