from __future__ import annotations

import pytest

from annotator.model.vocab import SPECIALS, Vocab, tokenize


def test_tokenize_matches_karpathy_tokens() -> None:
    assert tokenize("A boy wearing a red t-shirt is running through woodland .") == [
        "a",
        "boy",
        "wearing",
        "a",
        "red",
        "t",
        "shirt",
        "is",
        "running",
        "through",
        "woodland",
    ]
    assert tokenize("A girl in a child 's swimming pool.") == [
        "a",
        "girl",
        "in",
        "a",
        "child",
        "s",
        "swimming",
        "pool",
    ]
    assert tokenize("Café au lait, 2 cups!") == ["café", "au", "lait", "2", "cups"]
    assert tokenize("  ...  ") == []


def test_build_keeps_frequent_words_in_a_stable_order() -> None:
    caps = [["a", "dog"], ["a", "cat"], ["a", "dog", "runs"]]
    v = Vocab.build(caps, min_freq=2)
    assert v.itos == [*SPECIALS, "a", "dog"]
    assert Vocab.build(list(reversed(caps)), min_freq=2) == v


def test_encode_decode_round_trip_with_unknown_words() -> None:
    v = Vocab([*SPECIALS, "a", "dog"])
    ids = v.encode(["a", "dog", "zebra"])
    assert ids == [v.start, 4, 5, v.unk, v.end]
    assert v.decode(ids) == ["a", "dog", "<unk>"]
    assert v.decode([v.start, 4, v.end, 5]) == ["a"]
    assert v.oov(["a", "zebra", "yak", "zebra"]) == ["zebra", "yak"]


def test_vocab_requires_special_tokens() -> None:
    with pytest.raises(ValueError, match="special"):
        Vocab(["a", "b"])
