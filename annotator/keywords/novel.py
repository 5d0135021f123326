"""Read the shipped donor table (``novel_words.tsv``) without WordNet.

Each row names a keyword form the Flickr8k caption vocabulary lacks ("lion",
"lions", "space shuttle") and the in-vocabulary words, best first, whose decoder
rows it copies (novel-word transfer; see ``annotator.keywords.build_novel``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

NOVEL_PATH = Path(__file__).with_name("novel_words.tsv")
NOVEL_HEADER = ("word", "keyword", "donors", "via")


@dataclass(frozen=True)
class NovelWord:
    """One word form to add to a caption vocabulary, with its donors."""

    word: str  # the token as it appears in a caption; a phrase is one token ("space shuttle")
    keyword: str  # the keyword it names ("lion" for "lions")
    donors: tuple[str, ...]  # in-vocabulary words whose rows it copies, best first
    via: str  # the shared WordNet ancestor, "reviewed" (hand-picked) or "fallback"


def parse_novel(text: str, source: str = str(NOVEL_PATH)) -> tuple[NovelWord, ...]:
    """Parse the TSV text into rows; raise ValueError naming the line."""
    lines = text.splitlines()
    if not lines or tuple(lines[0].split("\t")) != NOVEL_HEADER:
        raise ValueError(f"{source}: the first line must be the header {NOVEL_HEADER}")
    rows: list[NovelWord] = []
    seen: set[str] = set()
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) != len(NOVEL_HEADER):
            raise ValueError(f"{source}:{n}: expected {len(NOVEL_HEADER)} columns, got {len(cols)}")
        word, keyword, donors, via = cols
        donor_t = tuple(d for d in donors.split(",") if d)
        if not word or not keyword or not donor_t:
            raise ValueError(f"{source}:{n}: empty word, keyword or donors")
        if word in seen:
            raise ValueError(f"{source}:{n}: {word!r} listed twice")
        seen.add(word)
        rows.append(NovelWord(word, keyword, donor_t, via))
    return tuple(rows)


@functools.cache
def load_novel_words() -> tuple[NovelWord, ...]:
    """Return the shipped donor table's rows (cached)."""
    return parse_novel(NOVEL_PATH.read_text(encoding="utf-8"))
