"""Read the shipped ImageNet keyword table (``imagenet_keywords.tsv``) without WordNet."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("imagenet_keywords.tsv")
HEADER = ("index", "wnid", "label", "keyword", "hierarchy", "synonyms", "suppress")
NUM_CLASSES = 1000


@dataclass(frozen=True)
class ClassEntry:
    """One ImageNet class: its everyday keyword, hierarchy and caption word forms."""

    index: int  # class index of ImageNet-1k classifiers
    wnid: str  # WordNet 3.0 noun synset id, e.g. n02123045
    label: str  # ImageNet's first name of the class ("tabby")
    keyword: str  # the everyday word ("cat")
    hierarchy: tuple[str, ...]  # root..leaf, e.g. ("Animals", "Mammal", "Cat")
    synonyms: tuple[str, ...]  # word forms that name it in a caption (cat, cats, kitten)
    suppress: str  # why it is never asserted; "" when it may be

    @property
    def suppressed(self) -> bool:
        """Return True when this class is never turned into a keyword."""
        return bool(self.suppress)


def parse_table(text: str, source: str = str(TABLE_PATH)) -> tuple[ClassEntry, ...]:
    """Parse the TSV text into entries in class-index order; raise ValueError naming the line."""
    lines = text.splitlines()
    if not lines or tuple(lines[0].split("\t")) != HEADER:
        raise ValueError(f"{source}: the first line must be the header {HEADER}")
    entries: list[ClassEntry] = []
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) != len(HEADER):
            raise ValueError(f"{source}:{n}: expected {len(HEADER)} columns, got {len(cols)}")
        index, wnid, label, keyword, hierarchy, synonyms, suppress = cols
        if int(index) != len(entries):
            raise ValueError(f"{source}:{n}: class index {index}, expected {len(entries)}")
        if not keyword or not hierarchy:
            raise ValueError(f"{source}:{n}: empty keyword or hierarchy")
        entries.append(
            ClassEntry(
                index=int(index),
                wnid=wnid,
                label=label,
                keyword=keyword,
                hierarchy=tuple(hierarchy.split("|")),
                synonyms=tuple(s for s in synonyms.split(",") if s),
                suppress=suppress,
            )
        )
    return tuple(entries)


@functools.cache
def load_table() -> tuple[ClassEntry, ...]:
    """Return the shipped table's 1000 entries, in class-index order (cached)."""
    entries = parse_table(TABLE_PATH.read_text(encoding="utf-8"))
    if len(entries) != NUM_CLASSES:
        raise ValueError(f"{TABLE_PATH}: {len(entries)} classes, expected {NUM_CLASSES}")
    return entries
