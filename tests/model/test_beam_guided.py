"""Check constrained (tag-guided) beam search and repetition control."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch

from annotator.model.beam import FUNCTION_WORDS, Repetition, beam_search
from annotator.model.config import ModelConfig
from annotator.model.decoder import Decoder, DecoderState

START, END = 1, 2


@pytest.fixture(scope="module")
def decoder(tiny_decoder: Callable[..., Decoder]) -> Decoder:
    return tiny_decoder(50, seed=5, biases={END: 1.5})


def search(dec: Decoder, feats: torch.Tensor, **kw: object) -> list:
    kw = {"beam_size": 3, "start": START, "end": END, "max_len": 16, "min_len": 1, **kw}
    return beam_search(dec, feats, banned=(0, 3), **kw)  # type: ignore[arg-type]


def test_no_constraints_is_plain_beam_search(decoder: Decoder) -> None:
    feats = torch.randn(6, 49, 32)
    plain = search(decoder, feats)
    for cons in (None, [[]] * 6):
        same = search(decoder, feats, constraints=cons)
        for a, b in zip(plain, same, strict=True):
            assert [h.tokens for h in a] == [h.tokens for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)


def test_satisfiable_constraints_are_always_met(decoder: Decoder) -> None:
    torch.manual_seed(11)
    feats = torch.randn(12, 49, 32)
    plain = search(decoder, feats)
    gen = torch.Generator().manual_seed(0)
    cons = []
    for i in range(12):
        picks = torch.randperm(44, generator=gen)[:4] + 4  # word ids 4..47
        sets = [{int(picks[0]), int(picks[1])}, {int(picks[2])}] if i % 3 else [{int(picks[3])}]
        cons.append(sets)
    guided = search(decoder, feats, constraints=cons)
    for hyps, sets, base in zip(guided, cons, plain, strict=True):
        assert hyps, "every photo gets captions"
        for h in hyps:  # the whole n-best list comes from the accepting state
            assert h.satisfied == len(sets)
            assert all(set(h.tokens) & s for s in sets), (h.tokens, sets)
            assert h.alphas.shape == (len(h.tokens), 49)
            assert h.score == pytest.approx(sum(h.logprobs), abs=1e-4)
        assert hyps[0].score <= base[0].score + 1e-5  # a constraint never scores better


def test_constraint_already_in_the_plain_caption_changes_nothing(decoder: Decoder) -> None:
    feats = torch.randn(4, 49, 32)
    plain = search(decoder, feats)
    cons = [[{h[0].tokens[0]}] for h in plain]  # the first word of the plain caption
    guided = search(decoder, feats, constraints=cons)
    assert [h[0].tokens for h in guided] == [h[0].tokens for h in plain]


def test_a_photo_gets_the_same_result_alone_and_in_a_batch(decoder: Decoder) -> None:
    torch.manual_seed(2)
    feats = torch.randn(10, 49, 32)
    cons = [[{5, 6}, {9}] if i % 2 else ([{7}] if i % 3 else []) for i in range(10)]
    batch = search(decoder, feats, constraints=cons, repetition=Repetition((4, 5)))
    for i in range(10):
        alone = search(
            decoder, feats[i : i + 1], constraints=[cons[i]], repetition=Repetition((4, 5))
        )[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batch[i]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batch[i]], abs=1e-5)


def test_unreachable_constraints_fall_back_to_the_best_state(decoder: Decoder) -> None:
    feats = torch.randn(2, 49, 32)
    out = search(decoder, feats, constraints=[[{7}, {3}], [{3}]], max_len=6)  # 3 is banned
    assert all(h.satisfied == 1 and 7 in h.tokens for h in out[0])
    assert all(h.satisfied == 0 for h in out[1])


def test_bad_constraints_are_refused(decoder: Decoder) -> None:
    feats = torch.randn(1, 49, 32)
    with pytest.raises(ValueError, match="at most 2"):
        search(decoder, feats, constraints=[[{4}, {5}, {6}]])
    with pytest.raises(ValueError, match="token ids"):
        search(decoder, feats, constraints=[[{999}]])
    with pytest.raises(ValueError, match="constraint lists"):
        search(decoder, feats, constraints=[[], []])


VOCAB = ["<pad>", "<start>", "<end>", "<unk>", "a", "man", "is", "wearing", "blue", "shirt",
         "and", "in"]  # fmt: skip
LOOP = ["a", "man", "is", "wearing", "blue", "shirt", "and", "blue", "shirt", "and", "in"]


class ScriptedDecoder(Decoder):
    """Prefer the words of LOOP in order, then <end>: "... blue shirt and blue shirt and in"."""

    def step(self, words, state, encoder_out, projected=None):  # type: ignore[override]
        n = words.size(0)
        t = int(state.h[0, 0])  # the step count travels in the state
        logits = torch.zeros(n, len(VOCAB))
        target = VOCAB.index(LOOP[t]) if t < len(LOOP) else VOCAB.index("<end>")
        logits[:, target] = 10.0
        logits[:, VOCAB.index("<end>")] += 4.0 if t >= len(LOOP) - 1 else 0.0
        h = state.h + 1
        alpha = torch.full((n, encoder_out.size(1)), 1.0 / encoder_out.size(1))
        return logits, alpha, DecoderState(h, state.c)

    def init_state(self, encoder_out):  # type: ignore[override]
        z = torch.zeros(encoder_out.size(0), self.config.decoder_dim)
        return DecoderState(z, z.clone())


@pytest.fixture(scope="module")
def scripted() -> ScriptedDecoder:
    cfg = ModelConfig(vocab_size=len(VOCAB), encoder="efficientnet-lite0", encoder_dim=8,
                      embed_dim=4, attention_dim=4, decoder_dim=4)  # fmt: skip
    return ScriptedDecoder(cfg).eval()


def words_of(h) -> list[str]:
    return [VOCAB[i] for i in h.tokens if i != VOCAB.index("<end>")]


def test_repetition_control_forbids_blue_shirt_and_blue_shirt(scripted: ScriptedDecoder) -> None:
    feats = torch.zeros(2, 4, 8)
    plain = search(scripted, feats, max_len=14)
    text = " ".join(words_of(plain[0][0]))
    assert "blue shirt and blue shirt" in text  # the decoder's own preference
    rep = Repetition.for_words(VOCAB)
    controlled = search(scripted, feats, max_len=14, repetition=rep)
    for hyps in controlled:
        for h in hyps:
            w = words_of(h)
            bigrams = [
                (x, y)
                for x, y in itertools.pairwise(w)
                if not (x in FUNCTION_WORDS and y in FUNCTION_WORDS)
            ]
            assert len(bigrams) == len(set(bigrams)), w
            assert "blue shirt and blue shirt" not in " ".join(w)
            if h.finished:
                assert w[-1] not in FUNCTION_WORDS, w  # never ends on "and" or "in"
    assert plain[0][0].finished and words_of(plain[0][0])[-1] == "in"  # plain ends on "in"


def test_function_word_bigrams_may_repeat() -> None:
    from annotator.model.beam import _repeated_next

    itos = ["<pad>", "<start>", "<end>", "<unk>", "a", "in", "the", "dog", "grass"]
    fn = torch.tensor([w in FUNCTION_WORDS for w in itos])
    # "in the grass in the" -> after "the", "grass" would repeat "the grass": forbidden
    seq = torch.tensor([[5, 6, 8, 5, 6], [5, 6, 7, 5, 6]])
    rows, toks = _repeated_next(seq, seq[:, -1], fn)
    assert sorted(zip(rows.tolist(), toks.tolist(), strict=True)) == [(0, 8), (1, 7)]
    # "in the dog in" -> after "in", "the" would repeat "in the": two function words, allowed
    seq = torch.tensor([[5, 6, 7, 5]])
    assert _repeated_next(seq, seq[:, -1], fn)[0].numel() == 0


def test_repetition_control_can_be_switched_off_per_rule(scripted: ScriptedDecoder) -> None:
    feats = torch.zeros(1, 4, 8)
    only_end = Repetition.for_words(VOCAB, no_repeat_bigrams=False)
    out = search(scripted, feats, max_len=14, repetition=only_end)[0][0]
    w = words_of(out)
    assert "blue shirt and blue shirt" in " ".join(w) and w[-1] not in FUNCTION_WORDS
    off = Repetition.for_words(VOCAB, no_repeat_bigrams=False, no_function_word_end=False)
    assert not off.active
    assert search(scripted, feats, max_len=14, repetition=off)[0][0].tokens == (
        search(scripted, feats, max_len=14)[0][0].tokens
    )


def test_caption_checks_match_the_rules_repetition_control_enforces() -> None:
    from annotator.model.beam import ends_on_function_word, repeated_content_bigram

    assert repeated_content_bigram(["a", "man", "in", "a", "blue", "shirt", "and", "blue", "shirt"])
    dog = ["a", "man", "in", "a", "blue", "shirt", "and", "a", "dog", "in", "a", "park"]
    assert not repeated_content_bigram(dog)
    assert ends_on_function_word(["a", "man", "in", "a"])
    assert not ends_on_function_word(["a", "man", "in", "a", "park"])
    assert not ends_on_function_word([])


def test_a_caption_cut_at_max_len_does_not_end_on_a_function_word(
    scripted: ScriptedDecoder,
) -> None:
    feats = torch.zeros(1, 4, 8)
    # max_len 4 cuts LOOP at "a man is wearing"; 7 at "... blue shirt and": plain keeps "and"
    plain = words_of(search(scripted, feats, max_len=7)[0][0])
    assert plain[-1] == "and"
    rep = Repetition.for_words(VOCAB)
    for n in (4, 7, 11):
        for h in search(scripted, feats, max_len=n, repetition=rep)[0]:
            w = words_of(h)
            assert len(w) <= n and w[-1] not in FUNCTION_WORDS, (n, w)
