"""Check novel-word transfer: donor rows, words only under constraints, unchanged captions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from annotator.keywords.novel import NovelWord, parse_novel
from annotator.model.beam import beam_search
from annotator.model.decoder import Decoder
from annotator.model.novel import donor_bans, extend_decoder, plan_novel
from annotator.model.vocab import SPECIALS, Vocab

WORDS = [*SPECIALS, "a", "dog", "cat", "runs", "on", "grass", "the", "dogs", "sits", "man"]
ROWS = (
    NovelWord("lion", "lion", ("cat", "dog"), "feline"),
    NovelWord("lions", "lion", ("cats", "dogs"), "feline"),  # "cats" missing: falls to "dogs"
    NovelWord("space shuttle", "space shuttle", ("rocket",), "reviewed"),  # no known donor: skipped
    NovelWord("dog", "dog", ("cat",), "reviewed"),  # already known: skipped
)


@pytest.fixture(scope="module")
def setup(tiny_decoder: Callable[..., Decoder]) -> tuple[Vocab, Decoder]:
    vocab = Vocab(WORDS)
    # the decoder likes "cat": so would "lion"
    dec = tiny_decoder(len(vocab), seed=3, biases={vocab.stoi["cat"]: 2.0, vocab.end: 1.0})
    return vocab, dec


def search(dec: Decoder, vocab: Vocab, feats: torch.Tensor, **kw: object) -> list:
    return beam_search(  # type: ignore[arg-type]
        dec,
        feats,
        beam_size=3,
        start=vocab.start,
        end=vocab.end,
        max_len=8,
        min_len=1,
        banned=vocab.never_generated(),
        **kw,
    )


def test_plan_uses_the_first_known_donor_and_skips_the_rest(setup) -> None:
    vocab, _ = setup
    novel = plan_novel(vocab, ROWS)
    assert novel.vocab.itos[: len(vocab)] == vocab.itos
    assert novel.vocab.itos[len(vocab) :] == ["lion", "lions"]
    lion, lions = novel.novel_ids
    assert novel.donor_of == {lion: vocab.stoi["cat"], lions: vocab.stoi["dogs"]}


def test_extension_copies_donor_rows_and_leaves_the_decoder_alone(setup) -> None:
    vocab, dec = setup
    before = {k: v.clone() for k, v in dec.state_dict().items()}
    novel = plan_novel(vocab, ROWS)
    grown = extend_decoder(dec, novel)
    for k, v in dec.state_dict().items():  # the checkpoint's decoder is unchanged
        assert torch.equal(v, before[k]), k
    assert grown.fc.out_features == grown.embedding.num_embeddings == len(vocab) + 2
    base = len(vocab)
    assert torch.equal(grown.fc.weight[:base], dec.fc.weight)
    assert torch.equal(grown.fc.bias[:base], dec.fc.bias)
    assert torch.equal(grown.embedding.weight[:base], dec.embedding.weight)
    for new, donor in novel.donor_of.items():
        assert torch.equal(grown.fc.weight[new], dec.fc.weight[donor])
        assert grown.fc.bias[new] == dec.fc.bias[donor]
        assert torch.equal(grown.embedding.weight[new], dec.embedding.weight[donor])
    assert grown.decode_step is dec.decode_step  # shared, not copied
    assert extend_decoder(dec, plan_novel(vocab, ())) is dec


def test_novel_words_only_under_their_photos_constraint(setup) -> None:
    vocab, dec = setup
    novel = plan_novel(vocab, ROWS)
    grown = extend_decoder(dec, novel)
    lion, lions = novel.novel_ids
    cat = vocab.stoi["cat"]
    feats = torch.randn(6, 9, 32)
    cons: list[list[set[int]]] = [[{lion, lions}], [], [{cat}], [], [{lion, lions}], []]
    bans = [donor_bans(c, novel.donor_of) for c in cons]
    assert bans[0] == {cat, vocab.stoi["dogs"]} and bans[2] == set()
    out = search(
        grown, novel.vocab, feats, constraints=cons, restricted=novel.novel_ids, photo_banned=bans
    )
    unguided = search(grown, novel.vocab, feats, restricted=novel.novel_ids)
    for i, hyps in enumerate(out):
        for h in hyps:  # every n-best caption
            has_novel = bool({lion, lions} & set(h.tokens))
            assert has_novel == (i in (0, 4)), (i, novel.vocab.decode(h.tokens))
            if i in (0, 4):
                assert cat not in h.tokens  # the donor gives way to the novel word
                assert h.alphas.shape == (len(h.tokens), 9)  # attention for every word
    for hyps in unguided:
        assert all(not {lion, lions} & set(h.tokens) for h in hyps)


def test_photos_without_novel_constraints_keep_their_captions(setup) -> None:
    vocab, dec = setup
    novel = plan_novel(vocab, ROWS)
    grown = extend_decoder(dec, novel)
    feats = torch.randn(5, 9, 32)
    cons: list[list[set[int]]] = [[], [{vocab.stoi["grass"]}], [], [{vocab.stoi["man"]}], []]
    ref = search(dec, vocab, feats, constraints=cons)
    ext = search(grown, novel.vocab, feats, constraints=cons, restricted=novel.novel_ids)
    for a, b in zip(ref, ext, strict=True):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)


def test_a_photo_gets_the_same_caption_alone_and_in_a_batch(setup) -> None:
    vocab, dec = setup
    novel = plan_novel(vocab, ROWS)
    grown = extend_decoder(dec, novel)
    lion, lions = novel.novel_ids
    feats = torch.randn(4, 9, 32)
    cons: list[list[set[int]]] = [[{lion, lions}], [], [{lion}, {vocab.stoi["grass"]}], []]
    bans = [donor_bans(c, novel.donor_of) for c in cons]
    kw = {"restricted": novel.novel_ids}
    batch = search(grown, novel.vocab, feats, constraints=cons, photo_banned=bans, **kw)
    for i in range(4):
        one = feats[i : i + 1]
        (alone,) = search(
            grown, novel.vocab, one, constraints=[cons[i]], photo_banned=[bans[i]], **kw
        )
        assert [h.tokens for h in alone] == [h.tokens for h in batch[i]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batch[i]], abs=1e-5)


def test_the_table_parser_names_the_bad_line() -> None:
    head = "word\tkeyword\tdonors\tvia\n"
    assert parse_novel(head + "lion\tlion\tcat,dog\tfeline\n")[0].donors == ("cat", "dog")
    with pytest.raises(ValueError, match="header"):
        parse_novel("word\tdonors\n")
    with pytest.raises(ValueError, match=":3: 'lion' listed twice"):
        parse_novel(head + "lion\tlion\tcat\tx\nlion\tlion\tdog\tx\n")
    with pytest.raises(ValueError, match=":2: empty"):
        parse_novel(head + "lion\tlion\t\tx\n")


def test_a_novel_word_stands_only_for_its_own_keyword(setup) -> None:
    from annotator.core.types import Keyword
    from annotator.keywords.guidance import constraints_for, word_forms

    vocab, _ = setup
    assert "cardigan" in word_forms("dog")  # a corgi breed, and a sweater
    novel = plan_novel(vocab, (NovelWord("cardigan", "cardigan", ("man",), "reviewed"),))
    (cardigan,) = novel.novel_ids
    dog = [Keyword("dog", ("Animals", "Mammal", "Dog"), 0.9)]
    loose = constraints_for(dog, novel.vocab.stoi.get)
    assert cardigan in loose[0]
    (strict,) = constraints_for(dog, novel.vocab.stoi.get, names=novel.names)
    assert strict == {vocab.stoi["dog"], vocab.stoi["dogs"]}
    sweater = [Keyword("cardigan", ("Clothing", "Cardigan"), 0.9)]
    assert constraints_for(sweater, novel.vocab.stoi.get, names=novel.names) == [{cardigan}]


def test_a_novel_word_is_kept_only_where_the_decoder_has_a_place_for_it(setup) -> None:
    import copy
    import math

    from annotator.model.novel import fitting, without_novel

    vocab, dec = setup
    rows = (
        NovelWord("lion", "lion", ("cat",), "reviewed"),  # the decoder likes "cat"
        NovelWord("zebra", "zebra", ("grass",), "reviewed"),  # and never says "grass"
    )
    unlikely = copy.deepcopy(dec)
    with torch.no_grad():
        unlikely.fc.bias[vocab.stoi["grass"]] = -12.0
    novel = plan_novel(vocab, rows)
    grown = extend_decoder(unlikely, novel)
    lion, zebra = novel.novel_ids
    man = vocab.stoi["man"]
    feats = torch.randn(2, 9, 32)
    cons: list[list[set[int]]] = [[{lion}], [{zebra}, {man}]]
    assert [novel.asks_novel(c) for c in cons] == [True, True]
    assert not novel.asks_novel([{man}])
    assert without_novel(cons[1], novel) == [{man}]
    bans = [donor_bans(c, novel.donor_of) for c in cons]
    kw = {"restricted": novel.novel_ids, "length_penalty": 0.5}
    guided = search(grown, novel.vocab, feats, constraints=cons, photo_banned=bans, **kw)
    fallback = search(
        grown, novel.vocab, feats, constraints=[without_novel(c, novel) for c in cons], **kw
    )
    assert lion in guided[0][0].tokens and zebra in guided[1][0].tokens
    # "lion" takes "cat"'s place at no cost; "zebra" costs its donor's -12 logit
    assert fitting(guided[0], fallback[0], 0.5, 0.1)
    assert not fitting(guided[1], fallback[1], 0.5, 2.5)
    assert fitting(guided[1], fallback[1], 0.5, math.inf)
    assert man in fallback[1][0].tokens  # the fallback keeps the in-vocabulary constraint


def test_a_keyword_only_novel_words_name_needs_the_novel_threshold(setup) -> None:
    from annotator.core.types import Keyword
    from annotator.keywords.guidance import constraints_for

    vocab, _ = setup
    novel = plan_novel(vocab, ROWS)
    lion, lions = novel.novel_ids
    dog = Keyword("dog", ("Animals", "Mammal", "Dog"), 0.42)
    lion_kw = Keyword("lion", ("Animals", "Mammal", "Big cat"), 0.45)
    opts = {"names": novel.names, "novel": novel.is_novel, "threshold": 0.4}
    cons = constraints_for([lion_kw, dog], novel.vocab.stoi.get, novel_threshold=0.5, **opts)
    assert cons == [{vocab.stoi["dog"], vocab.stoi["dogs"]}]  # "lion" skipped, "dog" next
    cons = constraints_for([lion_kw, dog], novel.vocab.stoi.get, novel_threshold=0.45, **opts)
    assert cons == [{lion, lions}]
