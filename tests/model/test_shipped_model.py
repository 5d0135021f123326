"""Check the shipped default model: it loads safely and says sensible things."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from annotator.core.types import CaptionResult
from annotator.keywords import DEFAULT_THRESHOLD
from annotator.keywords.aggregate import LEAF_THRESHOLD, SIBLING_THRESHOLD
from annotator.model.articles import needs_an
from annotator.model.captioner import Captioner
from annotator.model.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from torch import Tensor

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "default.safetensors"
SAMPLES = REPO / "resources" / "samples"

ANIMALS = {"cat", "cats", "kitten", "dog", "dogs", "puppy", "animal", "animals"}
PEOPLE = {"man", "woman", "person", "people", "boy", "girl", "child", "men", "women", "lady", "guy"}


@pytest.fixture(scope="module")
def shipped() -> Captioner:
    assert SHIPPED.is_file(), "models/default.safetensors is missing"
    return Captioner.load(SHIPPED, "cpu")


def test_shipped_checkpoint_is_small_and_self_describing() -> None:
    assert SHIPPED.stat().st_size < 50 * 2**20
    ckpt = load_checkpoint(SHIPPED)
    assert ckpt.config.encoder == "efficientnet-lite2"
    assert len(ckpt.vocab) > 1000 and "dog" in ckpt.vocab
    assert ckpt.metrics.get("test", {}).get("3", {}).get("BLEU-4", 0) > 0
    assert "hardware" in ckpt.training


@pytest.fixture(scope="module")
def sample_captions(shipped: Captioner) -> dict[str, CaptionResult]:
    photos = {p.stem: p for p in sorted(SAMPLES.glob("*.jpg"))}
    return dict(zip(photos, shipped.caption_files(list(photos.values()), beam_size=3), strict=True))


def test_shipped_model_captions_the_samples_sensibly(
    sample_captions: dict[str, CaptionResult],
) -> None:
    for name in ("astronaut", "camera"):  # people: Flickr8k's most common subject
        words = set(sample_captions[name].words)
        assert words & PEOPLE, f"{name}.jpg was captioned {sample_captions[name].text!r}"
    # The classifier's confident keyword for this photo is the tripod under the camera;
    # tag guidance makes the caption name it, plain beam search says "camera".
    camera = sample_captions["camera"]
    assert {"camera", *(k.word for k in camera.keywords)} & set(camera.words), camera.text
    texts = [r.text for r in sample_captions.values()]
    assert len(set(texts)) == len(texts), f"the same caption for different photos: {texts}"
    for r in sample_captions.values():
        assert 3 <= len(r.words) <= 20 and "<unk>" not in r.words
        assert r.attention.shape == (len(r.words), 9, 9)
        for art, nxt in zip(r.words, r.words[1:], strict=False):  # "a"/"an" agree
            assert art not in ("a", "an") or (art == "an") == needs_an(nxt), r.text


def test_plain_beam_search_still_names_the_camera(shipped: Captioner) -> None:
    (plain,) = shipped.caption_files([SAMPLES / "camera.jpg"], beam_size=3, guidance="none")
    assert "camera" in plain.words and plain.keywords  # keywords do not depend on guidance


def test_shipped_model_names_the_cat_in_the_cat_photo(
    sample_captions: dict[str, CaptionResult],
) -> None:
    # Flickr8k has 13 cat photos in 6,000: the plain decoder calls Chelsea a person; the
    # encoder's ImageNet head recognises the cat and tag-guided decoding names it.
    res = sample_captions["chelsea"]
    assert "cat" in [k.word for k in res.keywords], res.keywords
    assert res.keywords[0].hierarchy[0] == "Animals"
    assert set(res.words) & ANIMALS, f"the cat photo was captioned {res.text!r}"
    assert set(res.words) & {"cat", "cats", "kitten"}


def test_shipped_model_keywords_name_the_coffee_and_nothing_unsure(
    sample_captions: dict[str, CaptionResult],
) -> None:
    assert "coffee" in [k.word for k in sample_captions["coffee"].keywords]
    for r in sample_captions.values():
        lowest = min(DEFAULT_THRESHOLD, LEAF_THRESHOLD, SIBLING_THRESHOLD)
        assert all(k.probability is not None and k.probability >= lowest for k in r.keywords)


def _chelsea_as_zebra(shipped: Captioner) -> tuple[Tensor, Tensor, Tensor]:
    """Return the cat photo's features, its real class logits and logits sure of a zebra."""
    import torch

    from annotator.keywords.table import load_table
    from annotator.model.preprocess import load_image

    x = load_image(SAMPLES / "chelsea.jpg", shipped.preprocess).tensor[None]  # (1, 3, S, S)
    feats, logits = shipped.encode_with_logits(x)
    assert logits is not None
    zebra = next(e.index for e in load_table() if e.label == "zebra")
    forced = torch.full_like(logits, -10.0)  # (1, 1000): the classifier is sure of a zebra
    forced[0, zebra] = 10.0
    return feats, logits, forced


def test_a_confident_keyword_flickr8k_never_saw_is_named_only_under_guidance(
    shipped: Captioner,
) -> None:
    feats, logits, forced = _chelsea_as_zebra(shipped)
    (guided,) = shipped.caption_features(feats, class_logits=forced)
    assert "zebra" not in shipped.vocab and "zebra" in shipped.caption_vocab
    assert [k.word for k in guided.keywords] == ["zebra"]
    assert "zebra" in guided.words, guided.text
    assert guided.attention.shape == (len(guided.words), 9, 9)
    novel = {shipped.caption_vocab.itos[i] for i in shipped.novel.novel_ids}
    (plain,) = shipped.caption_features(feats, class_logits=forced, guidance="none")
    assert not novel & set(plain.words), plain.text
    # the real photo's caption is the same with and without the extension: no novel keyword
    bare = Captioner(shipped.ckpt, "cpu", novel_words=False)
    assert bare.caption_features(feats, class_logits=logits)[0].text == (
        shipped.caption_features(feats, class_logits=logits)[0].text
    )


def test_a_novel_word_that_does_not_fit_gives_way_to_the_caption_without_it(
    shipped: Captioner,
) -> None:
    import math

    import torch

    feats, logits, forced = _chelsea_as_zebra(shipped)
    (kept,) = shipped.caption_features(feats, class_logits=forced, novel_max_drop=math.inf)
    (dropped,) = shipped.caption_features(feats, class_logits=forced, novel_max_drop=-math.inf)
    assert "zebra" in kept.words and "zebra" not in dropped.words
    bare = Captioner(shipped.ckpt, "cpu", novel_words=False)
    (without,) = bare.caption_features(feats, class_logits=forced)
    assert dropped.text == without.text  # the caption the checkpoint's vocabulary gives
    assert dropped.attention.shape == (len(dropped.words), 9, 9)
    # the same alone and beside a photo without a novel keyword (fallback rows appended)
    pair = shipped.caption_features(
        torch.cat([feats, feats]),
        class_logits=torch.cat([forced, logits]),
        novel_max_drop=-math.inf,
    )
    assert pair[0].text == dropped.text
    assert pair[1].text == shipped.caption_features(feats, class_logits=logits)[0].text


def test_a_guidance_threshold_given_alone_also_holds_for_novel_words(shipped: Captioner) -> None:
    from annotator.core.types import Keyword

    lion = [Keyword("lion", ("Animals", "Mammal", "Big cat", "Lion"), 0.6)]
    assert "lion" not in shipped.vocab
    (at_default,) = shipped.constraints([lion])
    assert "lion" in {shipped.caption_vocab.itos[i] for i in at_default[0]}
    assert shipped.constraints([lion], threshold=0.7) == [[]]
    assert shipped.constraints([lion], threshold=0.7, novel_threshold=0.55) == [at_default]
