"""Choose the words a caption must contain from a photo's keywords (tag-guided decoding).

A keyword becomes a constraint for the constrained beam search when its probability
reaches ``GUIDANCE_THRESHOLD`` and at least one of its word forms is a single word
of the caption vocabulary; at most ``GUIDANCE_MAX_CONSTRAINTS`` per photo, most
probable first. ``benchmarks/keywords.py --calibrate`` compares these choices on
Flickr8k **val** and the dev half of imagenet-samples (even class indices), never on
a test split. On a shared 2-core machine that run only finished its keyword-threshold
table and the unguided val row (BLEU-4 23.18, CIDEr-D 57.66 on 200 val photos), so
0.5 and one constraint are a prior (the keyword threshold's precision is 97.7 % at
0.5 on the dev half), not yet a validated optimum: re-run the calibration to confirm.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from annotator.core.types import Keyword
from annotator.keywords.table import load_table

GUIDANCE_THRESHOLD = 0.5
GUIDANCE_MAX_CONSTRAINTS = 1
GUIDANCE_MODES = ("none", "tags")


@functools.cache
def _forms_by_keyword() -> dict[str, tuple[str, ...]]:
    forms: dict[str, dict[str, None]] = {}
    for e in load_table():
        if not e.suppressed:
            forms.setdefault(e.keyword, {}).update(dict.fromkeys(e.synonyms))
    return {k: tuple(v) for k, v in forms.items()}


def word_forms(word: str) -> tuple[str, ...]:
    """Return the words that name ``word`` in a caption: ``cat`` -> cat, cats, kitten...

    Keywords from the table get their synonyms; group words (``mammal``, ``bird``
    when it is a group) get the word and its plain plural.
    """
    known = _forms_by_keyword().get(word)
    if known:
        return known
    return (word, word + "s") if not word.endswith("s") else (word,)


def constraints_for(
    keywords: Sequence[Keyword],
    token_id: Callable[[str], int | None],
    *,
    threshold: float = GUIDANCE_THRESHOLD,
    max_constraints: int = GUIDANCE_MAX_CONSTRAINTS,
    names: Callable[[int, str], bool] | None = None,
) -> list[set[int]]:
    """Return up to ``max_constraints`` sets of token ids for one photo's keywords.

    ``token_id`` maps a word form to its id in the caption vocabulary, or None. A
    multi-word form ("space shuttle") counts only where the vocabulary has it as one
    token (a novel word, ``annotator.model.novel``): each constraint is one token.
    ``names(token_id, keyword)`` may refuse a token for a keyword: a novel word stands
    only for its own keyword ("cardigan" the sweater is not a form of "dog").
    """
    out: list[set[int]] = []
    for kw in sorted(keywords, key=lambda k: -(k.probability or 0.0)):
        if len(out) >= max_constraints or (kw.probability or 0.0) < threshold:
            break
        ids = {
            i
            for f in word_forms(kw.word)
            if (i := token_id(f)) is not None and (names is None or names(i, kw.word))
        }
        if ids and all(ids.isdisjoint(c) for c in out):
            out.append(ids)
    return out
