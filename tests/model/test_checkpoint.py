from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from annotator.core.errors import ModelLoadError
from annotator.model.captioner import Captioner
from annotator.model.checkpoint import load_checkpoint, read_preprocess, save_checkpoint


def test_round_trip_keeps_weights_config_vocab_and_captions(
    tiny_model: Path, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(tiny_model)
    assert ckpt.name == "tiny-random" and ckpt.config.encoder == "efficientnet-lite0"
    assert ckpt.vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert len(ckpt.version) == 12 and ckpt.model_id == f"tiny-random@{ckpt.version}"
    copy = tmp_path / "copy.safetensors"
    ckpt.metrics = {"val_bleu4": 1.5}
    save_checkpoint(ckpt, copy)
    again = load_checkpoint(copy)
    assert again.config == ckpt.config and again.vocab == ckpt.vocab
    assert again.preprocess == ckpt.preprocess and again.metrics == {"val_bleu4": 1.5}
    for k, v in ckpt.decoder_state.items():
        assert torch.equal(v, again.decoder_state[k])
    feats = torch.randn(2, 49, 1280)
    a = Captioner(ckpt, "cpu").caption_features(feats, beam_size=3)
    b = Captioner(again, "cpu").caption_features(feats, beam_size=3)
    assert [r.words for r in a] == [r.words for r in b]


def test_half_precision_file_is_smaller_and_loads_as_float32(
    tiny_model: Path, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(tiny_model)
    half = tmp_path / "half.safetensors"
    save_checkpoint(ckpt, half, half=True)
    assert half.stat().st_size < tiny_model.stat().st_size
    loaded = load_checkpoint(half)
    w = loaded.decoder_state["fc.weight"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, ckpt.decoder_state["fc.weight"], atol=1e-3)


class _Evil:
    def __reduce__(self):  # runs on unpickling
        return (Path("/tmp/annotator-pwned").touch, ())


@pytest.mark.parametrize("kind", ["torch.save", "pickle", "text", "empty"])
def test_refuses_anything_but_safetensors(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"model-{kind}.pth"
    if kind == "torch.save":
        torch.save({"state": torch.zeros(2), "evil": _Evil()}, path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Evil()))
    elif kind == "text":
        path.write_text("not a model at all")
    else:
        path.write_bytes(b"")
    marker = Path("/tmp/annotator-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelLoadError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "refusing" in str(err.value)
    assert not marker.exists(), "loading executed pickled code"


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_a_header_length_starting_with_byte_0x80_is_not_taken_for_a_pickle(
    tiny_model: Path, tmp_path: Path
) -> None:
    import struct

    ckpt = load_checkpoint(tiny_model)
    path = tmp_path / "x80.safetensors"
    for pad in range(300):
        ckpt.metrics = {"note": "x" * pad}
        save_checkpoint(ckpt, path)
        (n,) = struct.unpack("<Q", path.read_bytes()[:8])
        if n % 256 == 0x80:
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert load_checkpoint(path).metrics["note"] == ckpt.metrics["note"]


def test_the_preprocessing_preset_is_read_without_the_weights(tiny_model: Path) -> None:
    assert read_preprocess(tiny_model) == load_checkpoint(tiny_model).preprocess
