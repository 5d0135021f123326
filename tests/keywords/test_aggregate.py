"""Check how class probabilities become keywords: sums up the hierarchy, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.keywords import class_probabilities, keywords_from_prob_batch, keywords_from_probs
from annotator.keywords.table import load_table


def index(label: str) -> int:
    return next(e.index for e in load_table() if e.label == label)


def probs(**by_label: float) -> np.ndarray:
    p = np.zeros(1000, dtype=np.float32)
    for label, v in by_label.items():
        p[index(label.replace("_", " "))] = v
    return p


def test_several_breeds_sum_to_a_confident_dog() -> None:
    p = probs(golden_retriever=0.2, Labrador_retriever=0.2, beagle=0.2, Chihuahua=0.2)
    assert all(v < 0.5 for v in p)  # no single class is confident
    (kw,) = keywords_from_probs(p, threshold=0.5)
    assert (kw.word, kw.hierarchy, kw.source) == ("dog", ("Animals", "Mammal", "Dog"), "model")
    assert kw.probability == pytest.approx(0.8)


def test_the_deepest_confident_node_wins() -> None:
    p = probs(tabby=0.3, lion=0.3, golden_retriever=0.3)  # a mammal, but which?
    assert [k.word for k in keywords_from_probs(p, threshold=0.5)] == ["mammal"]
    p = probs(goldfinch=0.3, robin=0.3, bald_eagle=0.35)
    (kw,) = keywords_from_probs(p, threshold=0.5)
    assert kw.word == "bird" and kw.hierarchy == ("Animals", "Bird")


def test_an_uncertain_photo_gets_no_keyword() -> None:
    p = np.full(1000, 1 / 1000, dtype=np.float32)
    assert keywords_from_probs(p) == []


def test_suppressed_classes_never_become_keywords() -> None:
    p = probs(revolver=0.9, groom=0.05)
    assert keywords_from_probs(p, threshold=0.05) == []


def test_several_subjects_best_first_and_capped() -> None:
    p = probs(pizza=0.45, tabby=0.35, laptop=0.15)
    words = [k.word for k in keywords_from_probs(p, threshold=0.3, extra_threshold=0.3)]
    assert words == ["pizza", "cat"]
    assert len(keywords_from_probs(p, threshold=0.1, max_keywords=1)) == 1


def test_a_second_subject_needs_the_higher_threshold() -> None:
    p = probs(pizza=0.45, tabby=0.35)
    assert [k.word for k in keywords_from_probs(p, threshold=0.3)] == ["pizza"]
    p = probs(pizza=0.45, tabby=0.42)
    assert [k.word for k in keywords_from_probs(p, threshold=0.3)] == ["pizza", "cat"]
    p = probs(tabby=0.25)  # the best keyword alone needs only the first threshold
    assert [k.word for k in keywords_from_probs(p, threshold=0.2)] == ["cat"]


def test_a_group_gives_way_to_the_keyword_that_clearly_leads_it() -> None:
    # "mammal" is sure, and one mammal leads the others by far: name it
    p = probs(lion=0.35, tabby=0.1, golden_retriever=0.1, tiger=0.1, cheetah=0.1)
    assert [k.word for k in keywords_from_probs(p, threshold=0.5)] == ["lion"]
    # no clear lead: the group
    p = probs(lion=0.3, tabby=0.3, golden_retriever=0.3)
    assert [k.word for k in keywords_from_probs(p, threshold=0.5)] == ["mammal"]
    # the leader is too unsure on its own
    p = probs(lion=0.12, tabby=0.06, golden_retriever=0.06, tiger=0.06, cheetah=0.06)
    p[index("Egyptian cat")] = 0.06
    p[index("Siamese cat")] = 0.06
    kws = keywords_from_probs(p, threshold=0.3, leaf_threshold=0.15)
    assert [k.word for k in kws] == ["mammal"]


def test_batch_equals_one_by_one_and_softmax_sums_to_one() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 1000)).astype(np.float32) * 4
    logits[1, index("tabby")] += 30
    p = class_probabilities(logits)
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)
    batch = keywords_from_prob_batch(p, threshold=0.5, max_keywords=3)
    assert batch == [keywords_from_probs(row, threshold=0.5) for row in p]
    assert [k.word for k in batch[1]] == ["cat"]


def test_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="1000"):
        keywords_from_probs(np.zeros(10))


def test_big_groups_need_more_than_their_share_of_a_flat_guess() -> None:
    flat = np.full(1000, 1 / 1000, dtype=np.float32)  # "animal" holds 39.8 % of it
    assert keywords_from_probs(flat, threshold=0.1) == []
    p = flat * 0.1
    for label in ("tabby", "goldfinch", "tench", "tree frog", "green snake"):
        p[index(label)] += 0.18  # a sure animal, unsure which
    words = [k.word for k in keywords_from_probs(p, threshold=0.3)]
    assert words == ["animal"]


def test_a_close_runner_up_in_the_same_group_comes_second() -> None:
    # the classifier cannot decide between two reptiles: name both, best first
    p = probs(African_crocodile=0.42, American_alligator=0.28)
    kws = keywords_from_probs(p)
    assert [k.word for k in kws] == ["crocodile", "alligator"]
    assert kws[1].hierarchy == ("Animals", "Reptile", "Alligator")
    assert kws[1].probability == pytest.approx(0.28)
    # switched off, the runner-up is below the further-keyword threshold
    assert [k.word for k in keywords_from_probs(p, sibling_threshold=1.0)] == ["crocodile"]


def test_a_runner_up_far_behind_or_in_another_group_is_left_out() -> None:
    p = probs(violin=0.76, cello=0.11)  # the classifier has decided
    assert [k.word for k in keywords_from_probs(p)] == ["violin"]
    p = probs(African_crocodile=0.42, tabby=0.28)  # close, but no neighbour
    assert [k.word for k in keywords_from_probs(p)] == ["crocodile"]
    p = probs(African_crocodile=0.42, American_alligator=0.28)
    assert [k.word for k in keywords_from_probs(p, sibling_ratio=0.7)] == ["crocodile"]


def test_a_group_keyword_gets_no_runner_up() -> None:
    # "reptile" (0.6) is the keyword; a runner-up beside a group would be "crocodile"
    p = probs(African_crocodile=0.3, American_alligator=0.3)
    assert [k.word for k in keywords_from_probs(p, threshold=0.5)] == ["reptile"]
