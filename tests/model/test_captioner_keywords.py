"""Check that the captioner fills keywords and that tag guidance makes captions name them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from annotator.model.captioner import Captioner
from annotator.model.checkpoint import load_checkpoint
from annotator.model.preprocess import load_image

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture(scope="module")
def chelsea(captioner: Captioner) -> torch.Tensor:
    return load_image(SAMPLES / "chelsea.jpg", captioner.preprocess).tensor.unsqueeze(0)


def test_the_cat_photo_gets_the_keyword_cat(captioner: Captioner, chelsea: torch.Tensor) -> None:
    (res,) = captioner.caption_tensors(chelsea, beam_size=3)
    assert [k.word for k in res.keywords][:1] == ["cat"]
    kw = res.keywords[0]
    assert kw.hierarchy == ("Animals", "Mammal", "Cat") and kw.source == "model"
    assert kw.probability is not None and 0.5 <= kw.probability <= 1.0


def test_tag_guidance_makes_the_random_model_name_the_cat(
    captioner: Captioner, chelsea: torch.Tensor
) -> None:
    (plain,) = captioner.caption_tensors(chelsea, beam_size=3, guidance="none")
    (guided,) = captioner.caption_tensors(chelsea, beam_size=3, guidance="tags")
    assert "cat" not in plain.words  # random weights: the plain caption does not say it
    assert "cat" in guided.words
    assert guided.attention.shape[0] == len(guided.words)
    assert all("cat" in a.text.split() for a in guided.alternatives)  # n-best kept, all guided
    assert plain.keywords == guided.keywords


def test_logits_from_cached_features_equal_those_of_the_encoder_pass(
    captioner: Captioner, chelsea: torch.Tensor
) -> None:
    feats, logits = captioner.encode_with_logits(chelsea)
    again = captioner.logits_from_features(feats)
    assert logits is not None and again is not None
    assert torch.allclose(logits, again, atol=1e-4)
    a = captioner.caption_features(feats, beam_size=2)[0]
    b = captioner.caption_features(feats, beam_size=2, class_logits=logits)[0]
    assert a.words == b.words and a.keywords == b.keywords


def test_no_head_means_no_keywords_and_plain_search(tiny_model: Path) -> None:
    ckpt = load_checkpoint(tiny_model)
    ckpt.encoder_head = False
    cap = Captioner(ckpt, "cpu")
    feats = torch.randn(2, 49, 1280)
    guided = cap.caption_features(feats, beam_size=2, guidance="tags")
    plain = cap.caption_features(feats, beam_size=2, guidance="none")
    assert all(r.keywords == () for r in guided)
    assert [r.words for r in guided] == [r.words for r in plain]


def test_unknown_guidance_is_refused(captioner: Captioner) -> None:
    with pytest.raises(ValueError, match="guidance"):
        captioner.caption_features(torch.randn(1, 49, 1280), guidance="maybe")
