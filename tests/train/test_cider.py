from __future__ import annotations

import random

import numpy as np
import pytest
from pycocoevalcap.cider.cider import Cider

from annotator.train.cider import CiderD, cider_d

WORDS = [
    "a",
    "the",
    "man",
    "woman",
    "dog",
    "red",
    "blue",
    "shirt",
    "runs",
    "on",
    "grass",
    "in",
    "water",
    "ball",
    "child",
    "two",
]


def random_corpus(n: int, seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return hypotheses and references with shared and unseen n-grams, odd lengths, empties."""
    rng = random.Random(seed)

    def sentence(lo: int, hi: int) -> list[str]:
        return [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]

    refs = {
        f"p{i}": [" ".join(sentence(1, 14)) for _ in range(rng.randint(1, 6))] for i in range(n)
    }
    hyps: dict[str, str] = {}
    for i, k in enumerate(refs):
        if i % 4 == 0:  # copy of a reference, possibly with an unseen word
            h = rng.choice(refs[k]).split() + (["zebra"] if i % 8 == 0 else [])
        elif i % 11 == 0:
            h = []  # empty caption
        else:
            h = sentence(1, 16)
        hyps[k] = " ".join(h)
    return hyps, refs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_cider_d_equals_pycocoevalcap(seed: int) -> None:
    hyps, refs = random_corpus(300, seed)
    ours, ours_each = cider_d(hyps, refs)
    theirs, theirs_each = Cider().compute_score(refs, {k: [v] for k, v in hyps.items()})
    assert abs(ours - theirs) < 1e-6
    assert np.max(np.abs(ours_each - theirs_each)) < 1e-6
    assert ours_each.std() > 0.1  # the inputs do separate good from bad captions


def test_cached_scorer_scores_many_hypotheses_per_photo_like_the_reference() -> None:
    _, refs = random_corpus(50, 3)
    scorer = CiderD(refs)
    rng = random.Random(4)
    photos = [rng.choice(list(refs)) for _ in range(200)]
    hyps = [
        rng.choice(refs[p]) if i % 2 else " ".join(rng.sample(WORDS, 6))
        for i, p in enumerate(photos)
    ]
    got = scorer.score(hyps, photos)
    # the reference scorer, one hypothesis at a time, with the same document frequencies
    for i in range(0, 200, 17):
        one = {k: (hyps[i] if k == photos[i] else "") for k in refs}
        _, each = Cider().compute_score(refs, {k: [v] for k, v in one.items()})
        assert got[i] == pytest.approx(each[list(refs).index(photos[i])], abs=1e-6)
    # token-id sequences score like the same words
    ids = {w: j for j, w in enumerate(WORDS)}
    as_ids = CiderD({k: [[ids[w] for w in r.split()] for r in v] for k, v in refs.items()})
    got_ids = as_ids.score([[ids[w] for w in h.split()] for h in hyps], photos)
    assert np.allclose(got_ids, got, atol=1e-12)


def test_scorer_rejects_unknown_photos_and_mismatched_lengths() -> None:
    scorer = CiderD({"a": ["a red ball"]})
    with pytest.raises(KeyError, match="'b'"):
        scorer.score(["a ball"], ["b"])
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        scorer.score(["a ball", "x"], ["a"])
    with pytest.raises(ValueError, match="no reference"):
        CiderD({"a": []})
