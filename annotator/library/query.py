"""Parse what a user types into a search box into a small, safe query.

Nothing the user types reaches the database as query syntax: the parser keeps
only words (runs of Unicode letters and digits) and a few features, and
:mod:`annotator.library.fts` builds each dialect's query from them with every
word quoted or bound as a parameter.

Supported syntax (everything else is taken as plain words):

``dog beach``        both words (stemmed: "dogs", "beaches" match too)
``"red kite"``       the phrase; an unbalanced quote runs to the end of the query
``bic*``             a prefix; on a phrase, the last word is the prefix (``"ice cre"*``)
``dog OR cat``       either (``OR`` in capitals, between two terms)
``-cat``, ``NOT cat`` exclude captions containing the term
``AND``              ignored (terms are always all required)

Lowercase ``and``/``or``/``not`` and ``NEAR`` are ordinary words. Punctuation,
FTS operators (``^ : ( ) + {}``), emoji and other symbols only separate words.
A query with no words, or only excluded terms, is valid: the first matches
every caption, the second every caption without the excluded terms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")
_CHUNK = re.compile(r'"([^"]*)("?)(\*?)|(\S+)')
MAX_TERMS = 32  # longer queries are cut: a caption is a sentence, not a document


@dataclass(frozen=True)
class Term:
    """A word or phrase to match; ``prefix`` makes its last word a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_phrase(self) -> bool:
        """Return True for more than one word."""
        return len(self.words) > 1


@dataclass(frozen=True)
class Query:
    """A parsed query: all ``groups`` must match (each group: any of its terms), no ``excluded``."""

    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Return True when nothing is required or excluded (every caption matches)."""
        return not self.groups and not self.excluded

    @property
    def words(self) -> tuple[str, ...]:
        """Return the required words in order (for attention look-ups)."""
        return tuple(w for group in self.groups for term in group for w in term.words)


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text))


def parse(text: str, *, prefix_last: bool = False) -> Query:
    """Parse ``text`` into a :class:`Query`; never raises for any string.

    With ``prefix_last`` (search as you type), the last word is a prefix unless
    the text ends with a space or a closing quote.
    """
    text = unicodedata.normalize("NFKC", text or "")
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    negate = False
    join_or = False
    last_term: tuple[list[Term], int] | None = None  # (owning list, index), for prefix_last
    ended_cleanly = not text or text[-1].isspace()
    n_terms = 0
    for match in _CHUNK.finditer(text):
        quoted, closing, star, bare = match.groups()
        if bare is not None:
            if bare == "OR":
                join_or = bool(groups) and not negate
                continue
            if bare == "AND":
                continue
            if bare == "NOT":
                negate = True
                continue
            if bare.startswith("-") and len(bare) > 1:
                negate = True
                bare = bare[1:]
            prefix = bare.rstrip(".,;:!?)]}'\"").endswith("*")
            words = _words(bare)
        else:
            prefix = bool(star)
            words = _words(quoted)
            if match.end() == len(text) and closing:
                ended_cleanly = True
        if not words:
            negate = join_or = False
            continue
        if n_terms >= MAX_TERMS:
            break
        n_terms += 1
        term = Term(words, prefix)
        if negate:
            excluded.append(term)
            last_term = (excluded, len(excluded) - 1)
        elif join_or and groups:
            groups[-1].append(term)
            last_term = (groups[-1], len(groups[-1]) - 1)
        else:
            groups.append([term])
            last_term = (groups[-1], 0)
        negate = join_or = False
    if prefix_last and last_term is not None and not ended_cleanly:
        owner, index = last_term
        owner[index] = Term(owner[index].words, True)
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))
