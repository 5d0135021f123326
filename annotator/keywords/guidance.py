"""Choose the words a caption must contain from a photo's keywords (tag-guided decoding).

A keyword becomes a constraint for the constrained beam search when its probability
reaches ``GUIDANCE_THRESHOLD`` and one of its word forms is a token of the caption
vocabulary (a novel word counts: ``annotator.model.novel``); at most
``GUIDANCE_MAX_CONSTRAINTS`` per photo, most probable first.

Both were picked with ``benchmarks/keywords.py --calibrate --limit 300 --dev-photos 200``
on Flickr8k **val** (never test) and the dev half of imagenet-samples: of the settings
whose val BLEU-4 and CIDEr-D stay within 0.5 of plain beam search, the one whose
captions name the subject most often on the dev half. Val (first 300 photos) BLEU-4 /
CIDEr-D / dev photos named: plain 21.75 / 56.80 / 18.0 %; threshold 0.2: 21.40 / 53.84 /
83.0 %; 0.3: 21.94 / 56.02 / 81.0 %; 0.5: 21.87 / 56.58 / 72.0 %; 0.7: 21.78 / 56.63 /
48.5 %; 0.3 with two constraints: the same as one (a second keyword needs 40 %, so two
rarely reach it). On all 1000 val photos: plain 22.50 / 53.42, 0.5: 22.31 / 52.93, 0.4:
22.22 / 52.22, 0.3: 22.31 / 51.70, so 0.5 and one constraint. A higher threshold for
novel words only was not worth it: 0.7 gains 0.25 val CIDEr-D and loses 12 points of
dev photos named.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from annotator.core.types import Keyword
from annotator.keywords.table import load_table

GUIDANCE_THRESHOLD = 0.4
NOVEL_GUIDANCE_THRESHOLD = 0.5
NOVEL_MAX_DROP = 2.5
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
    novel: Callable[[int], bool] | None = None,
    novel_threshold: float = NOVEL_GUIDANCE_THRESHOLD,
) -> list[set[int]]:
    """Return up to ``max_constraints`` sets of token ids for one photo's keywords.

    ``token_id`` maps a word form to its id in the caption vocabulary, or None. A
    multi-word form ("space shuttle") counts only where the vocabulary has it as one
    token (a novel word, ``annotator.model.novel``): each constraint is one token.
    ``names(token_id, keyword)`` may refuse a token for a keyword: a novel word stands
    only for its own keyword ("cardigan" the sweater is not a form of "dog").
    ``novel(token_id)`` tells novel words; a keyword named only by novel words needs
    ``novel_threshold`` instead of ``threshold``.
    """
    out: list[set[int]] = []
    for kw in sorted(keywords, key=lambda k: -(k.probability or 0.0)):
        p = kw.probability or 0.0
        if len(out) >= max_constraints or p < min(threshold, novel_threshold):
            break
        ids = {
            i
            for f in word_forms(kw.word)
            if (i := token_id(f)) is not None and (names is None or names(i, kw.word))
        }
        only_novel = novel is not None and bool(ids) and all(novel(i) for i in ids)
        if p < (novel_threshold if only_novel else threshold):
            continue
        if ids and all(ids.isdisjoint(c) for c in out):
            out.append(ids)
    return out
