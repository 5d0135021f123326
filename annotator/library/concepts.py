"""Expand general query words to the specific words people caption photos with.

``person`` finds "a man", "a woman", "a boy"; ``animal`` finds dogs, cats and
horses; ``food`` finds pizza and cake; ``vehicle`` finds cars and buses. The
table (``concepts.tsv``, generated from WordNet 3.0's hypernyms by
``tools/make_concepts.py`` and restricted to the words of captions and
keywords) ships with the package: nothing reads WordNet at run time.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from annotator.library.query import _WORD, Query, Term

MAX_EXPANSIONS = 60  # per query word: an FTS query stays a short OR list


@cache
def table() -> dict[str, tuple[str, ...]]:
    """Return {general word: specific words, most frequent in captions first}."""
    text = resources.files("annotator.library").joinpath("concepts.tsv").read_text("utf-8")
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "\t" not in line:
            continue
        general, words = line.split("\t", 1)
        out[general] = tuple(words.split())
    return out


def specific_words(word: str) -> tuple[str, ...]:
    """Return the words under ``word`` ("animals" is looked up as "animal"); () if none."""
    concepts = table()
    key = word.casefold()
    for candidate in (
        key,
        key[:-1] if key.endswith("s") else "",
        key[:-2] if key.endswith("es") else "",
    ):
        if candidate and candidate in concepts:
            return concepts[candidate][:MAX_EXPANSIONS]
    return ()


def expand(query: Query) -> Query:
    """Return ``query`` with each one-word term OR-ed with the words under it.

    Phrases and excluded terms stay as they are (a prefix term is expanded as the
    whole word it is so far: search as you type); a query with nothing
    to expand is returned unchanged (the same object).
    """
    groups: list[tuple[Term, ...]] = []
    changed = False
    for group in query.groups:
        terms = list(group)
        present = {t.words for t in group}
        for term in group:
            if term.is_phrase:  # a prefix is expanded too: "person" typed so far
                continue
            for word in specific_words(term.words[0]):
                words = tuple(_WORD.findall(word))  # "shih-tzu": a phrase of two words
                if words and words not in present:
                    present.add(words)
                    terms.append(Term(words))
                    changed = True
        groups.append(tuple(terms))
    return Query(tuple(groups), query.excluded) if changed else query
