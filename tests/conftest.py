"""Share fixtures and factories: tiny captioners, small photos, filled libraries, offscreen Qt.

Factories are session fixtures returning a function (``make_photos``,
``make_tiny_checkpoint``, ``fill_library``), so test modules never import each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

torch.set_num_threads(1)  # small models: one thread is faster and deterministic

if TYPE_CHECKING:
    from annotator.library import Library

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


def _make_tiny_checkpoint(
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
    return _make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


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


@pytest.fixture(scope="session")
def make_tiny_checkpoint() -> Callable[..., Path]:
    """Return the factory of small random checkpoints: ``(path, *, encoder, seed, max_len)``."""
    return _make_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_words() -> tuple[str, ...]:
    """Return the words of the tiny checkpoints' vocabulary, in order."""
    return WORDS


def _make_photos(
    folder: Path, n: int, *, size: tuple[int, int] = (96, 72), seed: int = 0, prefix: str = "photo"
) -> list[Path]:
    """Write n distinct small JPEGs (random colour blocks) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = np.kron(
            rng.integers(0, 255, (6, 8, 3), dtype=np.uint8),
            np.ones((size[1] // 6, size[0] // 8, 1), dtype=np.uint8),
        )
        p = folder / f"{prefix}{i:03d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


@pytest.fixture(scope="session")
def make_photos() -> Callable[..., list[Path]]:
    """Return the photo factory: ``(folder, n, *, size, seed, prefix) -> paths``."""
    return _make_photos


def _fill_library(
    library: Library, folder: Path, n: int, *, captioned: int | None = None
) -> list[int]:
    """Register ``n`` photos and store a fake model caption for ``captioned`` of them."""
    from annotator.library import PhotoFile
    from annotator.library.testing import caption_result

    paths = _make_photos(folder, n, size=(32, 24))
    root = library.add_root(folder)
    files = [
        PhotoFile(p, f"hash{i}", p.stat().st_size, p.stat().st_mtime, 32, 24)
        for i, p in enumerate(paths)
    ]
    ids = [r.photo_id for r in library.upsert_photos(root.id, files)]
    library.enqueue(ids)
    jobs = library.claim_jobs(captioned if captioned is not None else n)
    for k, job in enumerate(jobs):
        text = "a dog on the grass" if k % 2 == 0 else "a cat on the table"
        result = caption_result(text, confidence=-0.1 * (k + 1), grid=3, model_id="test")
        library.complete_jobs([(job.job_id, result, "v1")])
    return ids


@pytest.fixture(scope="session")
def fill_library() -> Callable[..., list[int]]:
    """Return ``(library, folder, n, *, captioned) -> photo ids``: photos with fake captions."""
    return _fill_library
