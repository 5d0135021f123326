from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from annotator.model.beam import beam_search, greedy_decode
from annotator.model.config import ENCODERS
from annotator.model.decoder import Decoder
from annotator.model.encoder import Encoder
from annotator.train.loop import caption_loss


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Draw the same random features in every test, whatever runs before it."""
    torch.manual_seed(1234)


def _teacher_forced_logprob(
    decoder: Decoder, enc: torch.Tensor, tokens: list[int], *, start: int
) -> float:
    """Return the decoder's log-probability of ``tokens`` after ``start`` for one photo."""
    with torch.no_grad():
        state = decoder.init_state(enc)  # enc: (1, P, E)
        word = torch.tensor([start])  # (1,)
        total = 0.0
        for token in tokens:
            logits, _, state = decoder.step(word, state, enc)  # (1, V)
            total += float(torch.log_softmax(logits, dim=1)[0, token])
            word = torch.tensor([token])  # (1,)
    return total


@pytest.fixture(scope="module")
def decoder(tiny_decoder: Callable[..., Decoder]) -> Decoder:
    # <end> (index 2 in every Vocab) ends captions sometimes
    return tiny_decoder(40, seed=1, encoder_dim=64, biases={2: 1.5})


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite2"])
def test_encoder_feature_grid(name: str) -> None:
    enc = Encoder(name, pretrained=True).eval()
    spec = ENCODERS[name]
    with torch.inference_mode():
        out = enc(torch.randn(2, 3, spec.image_size, spec.image_size))
    assert out.shape == (2, spec.grid[0] * spec.grid[1], spec.feature_dim)
    assert torch.isfinite(out).all()


def test_fine_tune_switch_unfreezes_only_the_last_blocks() -> None:
    enc = Encoder("efficientnet-lite0", pretrained=False)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.set_fine_tune(2)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(
        "_blocks.15" in n or "_conv_head" in n or "_bn1" in n for n in trainable
    )
    enc.train()
    assert all(not m.training for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_resnet_without_weights_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    from annotator.core.errors import ModelLoadError

    def refuse(*a: object, **k: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.models, "get_model", refuse)
    with pytest.raises(ModelLoadError, match=r"resnet50.*weights"):
        Encoder("resnet50", pretrained=True)


def test_state_dict_follows_the_reference_layout(decoder: Decoder) -> None:
    keys = set(decoder.state_dict())
    for k in (
        "embedding.weight",
        "attention.encoder_att.weight",
        "attention.decoder_att.weight",
        "attention.full_att.weight",
        "f_beta.weight",
        "decode_step.weight_ih",
        "decode_step.weight_hh",
        "init_h.weight",
        "init_c.weight",
        "fc.weight",
    ):
        assert k in keys


def test_forward_and_step_shapes(decoder: Decoder) -> None:
    feats = torch.randn(3, 49, 64)
    caps = torch.randint(3, 40, (3, 7))
    scores, alphas = decoder(feats, caps)
    assert scores.shape == (3, 6, 40) and alphas.shape == (3, 6, 49)
    assert torch.allclose(alphas.sum(-1), torch.ones(3, 6), atol=1e-5)
    state = decoder.init_state(feats)
    s, a, st = decoder.step(caps[:, 0], state, feats)
    assert s.shape == (3, 40) and a.shape == (3, 49) and st.h.shape == (3, 24)
    assert torch.allclose(s, scores[:, 0], atol=1e-5)


def test_loss_ignores_padding(decoder: Decoder) -> None:
    torch.manual_seed(0)
    feats = torch.randn(2, 49, 64)
    caps = torch.tensor([[1, 5, 6, 7, 2, 0, 0], [1, 8, 9, 10, 11, 12, 2]])
    lengths = torch.tensor([5, 7])
    scores, alphas = decoder(feats, caps)
    loss, ce = caption_loss(scores, alphas, caps, lengths, alpha_c=0.0)
    manual = torch.cat(
        [
            torch.nn.functional.cross_entropy(scores[0, :4], caps[0, 1:5], reduction="none"),
            torch.nn.functional.cross_entropy(scores[1, :6], caps[1, 1:7], reduction="none"),
        ]
    ).mean()
    assert torch.allclose(ce, manual) and torch.allclose(loss, ce)
    garbage = scores.clone()
    garbage[0, 4:] = torch.randn_like(garbage[0, 4:]) * 100  # change only padded positions
    _, ce2 = caption_loss(garbage, alphas, caps, lengths, alpha_c=0.0)
    assert torch.allclose(ce, ce2)
    # the attention regulariser only counts real steps too
    al2 = alphas.clone()
    al2[0, 4:] = 0.0
    assert torch.allclose(
        caption_loss(scores, alphas, caps, lengths, 1.0)[0],
        caption_loss(scores, al2, caps, lengths, 1.0)[0],
    )


def test_beam_size_one_equals_greedy(decoder: Decoder) -> None:
    feats = torch.randn(12, 49, 64)
    greedy = greedy_decode(decoder, feats, start=1, end=2, max_len=15)
    beam = beam_search(decoder, feats, beam_size=1, start=1, end=2, max_len=15)
    assert [list(h[0].tokens) for h in beam] == greedy


def test_result_is_the_same_alone_or_in_a_batch_of_32(decoder: Decoder) -> None:
    torch.manual_seed(3)
    feats = torch.randn(32, 49, 64)
    batch = beam_search(decoder, feats, beam_size=5, start=1, end=2, max_len=15)
    for i in (0, 7, 31):
        alone = beam_search(decoder, feats[i : i + 1], beam_size=5, start=1, end=2, max_len=15)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batch[i]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batch[i]], abs=1e-5)
        assert torch.allclose(alone[0].alphas, batch[i][0].alphas, atol=1e-6)


def test_beam_returns_k_ranked_hypotheses_with_consistent_scores(decoder: Decoder) -> None:
    feats = torch.randn(4, 49, 64)
    out = beam_search(decoder, feats, beam_size=4, start=1, end=2, max_len=10)
    for hyps in out:
        assert len(hyps) == 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert len(h.tokens) <= 10 and len(h.logprobs) == len(h.tokens)
            assert h.score == pytest.approx(sum(h.logprobs), abs=1e-4)
            assert h.alphas.shape == (len(h.tokens), 49)
            assert h.finished == (h.tokens[-1] == 2)
    # each score is what the decoder itself gives that caption, word by word
    for i, hyps in enumerate(out):
        for h in hyps:
            rescored = _teacher_forced_logprob(decoder, feats[i : i + 1], list(h.tokens), start=1)
            assert h.score == pytest.approx(rescored, abs=1e-4)


def test_length_penalty_reranks_by_normalised_score(decoder: Decoder) -> None:
    feats = torch.randn(6, 49, 64)
    out = beam_search(decoder, feats, beam_size=4, start=1, end=2, max_len=10, length_penalty=1.0)
    for hyps in out:
        norm = [h.score / len(h.tokens) for h in hyps]
        assert norm == sorted(norm, reverse=True)


def test_min_len_forbids_empty_captions(decoder: Decoder) -> None:
    with torch.no_grad():
        decoder.fc.bias[2] += 50.0  # <end> is now overwhelmingly likely
    try:
        feats = torch.randn(3, 49, 64)
        plain = beam_search(decoder, feats, beam_size=2, start=1, end=2, max_len=8)
        assert all(h[0].tokens == (2,) for h in plain)
        guarded = beam_search(decoder, feats, beam_size=2, start=1, end=2, max_len=8, min_len=1)
        assert all(len(h[0].tokens) >= 2 for h in guarded)
    finally:
        with torch.no_grad():
            decoder.fc.bias[2] -= 50.0


def test_banned_tokens_are_never_generated(decoder: Decoder) -> None:
    with torch.no_grad():
        decoder.fc.bias[3] += 30.0  # make <unk> (index 3) the most likely word
    try:
        feats = torch.randn(4, 49, 64)
        plain = beam_search(decoder, feats, beam_size=3, start=1, end=2, max_len=6)
        assert any(3 in h[0].tokens for h in plain)
        clean = beam_search(
            decoder, feats, beam_size=3, start=1, end=2, max_len=6, banned=(3, 0, 1)
        )
        assert all(not {0, 1, 3} & set(h.tokens) for hyps in clean for h in hyps)
    finally:
        with torch.no_grad():
            decoder.fc.bias[3] -= 30.0
