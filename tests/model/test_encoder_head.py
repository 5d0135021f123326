"""Check the encoder's ImageNet head: one trunk pass, the right pooling, self-describing files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from annotator.model.captioner import build_modules
from annotator.model.checkpoint import load_checkpoint, save_checkpoint
from annotator.model.encoder import Encoder
from annotator.model.preprocess import Preprocess, load_image

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0() -> Encoder:
    return Encoder("efficientnet-lite0", pretrained=True).eval()


def test_features_and_logits_is_one_pass_with_the_same_grid(
    lite0: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        plain = lite0(x)
        calls = []
        real = lite0.trunk.forward
        monkeypatch.setattr(lite0.trunk, "forward", lambda t: calls.append(1) or real(t))
        grid, logits = lite0.features_and_logits(x)
    assert calls == [1]
    assert torch.equal(grid, plain) and grid.shape == (2, 49, 1280)
    assert logits is not None and logits.shape == (2, 1000)
    assert lite0.has_head


def test_head_sees_the_unpooled_map_whatever_the_grid(lite0: Encoder) -> None:
    pooled = Encoder("efficientnet-lite0", pretrained=True, pool_grid=(3, 3)).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        g_native, l_native = lite0.features_and_logits(x)
        g_pooled, l_pooled = pooled.features_and_logits(x)
        fmap = lite0.trunk(x)  # (1, 1280, 7, 7)
        reference = lite0.head(fmap.mean(dim=(2, 3)))  # (1, 1000)
    assert g_pooled.shape == (1, 9, 1280) and g_native.shape == (1, 49, 1280)
    assert l_native is not None and l_pooled is not None
    assert torch.allclose(l_native, reference, atol=1e-5)
    assert torch.allclose(l_pooled, l_native, atol=1e-5)


def test_pretrained_head_recognises_the_sample_cat(lite0: Encoder) -> None:
    img = load_image(SAMPLES / "chelsea.jpg", Preprocess.for_encoder("efficientnet-lite0"))
    with torch.inference_mode():
        _, logits = lite0.features_and_logits(img.tensor.unsqueeze(0))
    assert logits is not None
    assert int(logits.argmax()) in CAT_CLASSES


def test_head_is_frozen_even_when_fine_tuning() -> None:
    enc = Encoder("efficientnet-lite0", pretrained=False)
    enc.set_fine_tune(3)
    assert not any(p.requires_grad for p in enc.head.parameters())


def test_random_weights_and_disabled_heads_give_no_logits() -> None:
    x = torch.randn(1, 3, 224, 224)
    for enc in (
        Encoder("efficientnet-lite0", pretrained=False),
        Encoder("efficientnet-lite0", pretrained=True, use_head=False),
    ):
        assert not enc.has_head
        grid, logits = enc.eval().features_and_logits(x)
        assert logits is None and grid.shape == (1, 49, 1280)


def test_an_old_encoder_state_without_head_loads_and_disables_it(lite0: Encoder) -> None:
    old = {k: v for k, v in lite0.state_dict().items() if not k.startswith("head.")}
    enc = Encoder("efficientnet-lite0", pretrained=False)
    enc.load_state_dict(old)  # strict for everything but the head
    assert not enc.has_head
    enc.load_state_dict(lite0.state_dict())
    assert enc.has_head
    with pytest.raises(RuntimeError, match="Missing"):
        enc.load_state_dict({k: v for k, v in old.items() if "_conv_head" not in k})


def test_checkpoint_records_and_derives_its_head(tiny_model: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(tiny_model)
    assert ckpt.has_head and ckpt.encoder_state is None  # package weights carry their head
    assert build_modules(ckpt)[0].has_head

    lite0_state = Encoder("efficientnet-lite0", pretrained=True).state_dict()
    ckpt.encoder_state = {k: v for k, v in lite0_state.items() if not k.startswith("head.")}
    ckpt.encoder_head = None
    assert not ckpt.has_head  # an older file with its own trunk and no head
    ckpt.encoder_state = lite0_state
    assert ckpt.has_head
    ckpt.training = {"config": {"fine_tune_encoder": True}}
    assert not ckpt.has_head  # a fine-tuned trunk no longer matches the ImageNet head

    path = tmp_path / "ft.safetensors"
    save_checkpoint(ckpt, path)
    again = load_checkpoint(path)
    assert again.encoder_head is False and not again.has_head
    assert not build_modules(again)[0].has_head
    again.encoder_head = True  # the recorded value wins over the derivation
    assert again.has_head and build_modules(again)[0].has_head
