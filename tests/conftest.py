"""Share fixtures: a small random captioner checkpoint, sample photos, offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

torch.set_num_threads(1)  # small models: one thread is faster and deterministic

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "resources" / "samples"
WORDS = (
    "a",
    "dog",
    "cat",
    "man",
    "woman",
    "sitting",
    "running",
    "on",
    "in",
    "the",
    "grass",
    "street",
    "table",
    "cup",
    "of",
    "coffee",
    "rocket",
    "sky",
    "water",
    "red",
    "black",
    "white",
    "with",
    "is",
    "are",
    "two",
)


def make_tiny_checkpoint(
    path: Path, *, encoder: str = "efficientnet-lite0", seed: int = 0, max_len: int = 12
) -> Path:
    """Write a randomly initialised captioner (real encoder weights, small decoder)."""
    from annotator.model.checkpoint import Checkpoint, save_checkpoint
    from annotator.model.config import ModelConfig
    from annotator.model.decoder import Decoder
    from annotator.model.preprocess import Preprocess
    from annotator.model.vocab import SPECIALS, Vocab

    torch.manual_seed(seed)
    vocab = Vocab([*SPECIALS, *WORDS])
    cfg = ModelConfig.for_encoder(
        len(vocab), encoder, embed_dim=24, attention_dim=24, decoder_dim=32, max_caption_len=max_len
    )
    dec = Decoder(cfg)
    with torch.no_grad():  # make <end> likely enough that captions finish
        dec.fc.bias[vocab.end] = 2.5
    ckpt = Checkpoint(
        config=cfg,
        vocab=vocab,
        preprocess=Preprocess.for_encoder(encoder),
        decoder_state=dec.state_dict(),
        name="tiny-random",
        metrics={"note": "random weights, for tests"},
    )
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a small random checkpoint built once per test session."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def captioner(tiny_model: Path):
    """Return a Captioner loaded from the tiny checkpoint on the CPU."""
    from annotator.model.captioner import Captioner

    return Captioner.load(tiny_model, "cpu")


@pytest.fixture
def samples() -> list[Path]:
    """Return the bundled sample photos."""
    photos = sorted(SAMPLES.glob("*.jpg"))
    assert photos, "resources/samples has no photos"
    return photos
