"""Share fixtures of the training tests: a dataset of generated photos."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from annotator.train.loop import TrainConfig

SHAPE_COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 220),
    "green": (30, 180, 60),
    "yellow": (230, 220, 40),
}


def _write_shapes(root: Path, n: int = 20, prefix: str = "shape") -> Path:
    """Write n generated photos of coloured shapes (the last 4 val) and their Karpathy JSON."""
    images = []
    names = list(SHAPE_COLOURS)
    for i in range(n):
        colour, shape = names[i % 4], ("circle" if i % 3 else "square")
        im = Image.new("RGB", (120, 90), (240, 240, 240))
        d = ImageDraw.Draw(im)
        box = (20 + i % 5, 10, 100 - i % 7, 80)
        (d.ellipse if shape == "circle" else d.rectangle)(box, fill=SHAPE_COLOURS[colour])
        name = f"{prefix}{i:02d}.jpg"
        im.save(root / name, quality=90)
        raws = [
            f"a {colour} {shape} on a white background",
            f"a {colour} {shape}",
            f"the {shape} is {colour}",
        ]
        images.append(
            {
                "filename": name,
                "split": "val" if i >= n - 4 else "train",
                "sentences": [{"raw": r} for r in raws],
            }
        )
    path = root / "dataset_shapes.json"
    path.write_text(json.dumps({"dataset": "shapes", "images": images}))
    return path


@pytest.fixture
def make_shapes_dataset() -> Callable[..., Path]:
    """Return ``make(root, n=20, prefix="shape")`` writing a generated shapes dataset."""
    return _write_shapes


@pytest.fixture
def shapes_dataset(tmp_path: Path) -> Path:
    """Write 20 generated photos (16 train, 4 val) of coloured shapes and their Karpathy JSON."""
    return _write_shapes(tmp_path)


def _tiny_config(
    dataset: Path, out: Path, cache: Path, epochs: int, **overrides: Any
) -> TrainConfig:
    """Return the cross-entropy config of a tiny captioner on CPU; ``overrides`` win."""
    from annotator.train.loop import TrainConfig

    base: dict[str, Any] = {
        "encoder": "efficientnet-lite0",
        "batch_size": 16,
        "lr": 3e-3,
        "embed_dim": 32,
        "attention_dim": 32,
        "decoder_dim": 48,
        "min_word_freq": 1,
        "workers": 0,
        "progress": False,
        "device": "cpu",
    }
    return TrainConfig(
        dataset=str(dataset),
        out=str(out),
        cache_dir=str(cache),
        epochs=epochs,
        **(base | overrides),
    )


def _train_tiny(dataset: Path, out: Path, cache: Path, epochs: int) -> Path:
    """Train a tiny cross-entropy captioner on ``dataset``; return its last checkpoint."""
    from annotator.train.loop import train

    train(_tiny_config(dataset, out, cache, epochs, plot=False), log=lambda m: None)
    return Path(str(out).replace(".safetensors", ".last.safetensors"))


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., TrainConfig]:
    """Return ``config(dataset, out, cache, epochs, **overrides)``: a tiny CPU training run."""
    return _tiny_config


@pytest.fixture
def train_tiny() -> Callable[[Path, Path, Path, int], Path]:
    """Return ``train(dataset, out, cache, epochs)`` -> the last checkpoint of a tiny run."""
    return _train_tiny
