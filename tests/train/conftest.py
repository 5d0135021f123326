"""Share fixtures of the training tests: a dataset of generated photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

SHAPE_COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 220),
    "green": (30, 180, 60),
    "yellow": (230, 220, 40),
}


@pytest.fixture
def shapes_dataset(tmp_path: Path) -> Path:
    """Write 20 generated photos (16 train, 4 val) of coloured shapes and their Karpathy JSON."""
    images = []
    names = list(SHAPE_COLOURS)
    for i in range(20):
        colour, shape = names[i % 4], ("circle" if i % 3 else "square")
        im = Image.new("RGB", (120, 90), (240, 240, 240))
        d = ImageDraw.Draw(im)
        box = (20 + i % 5, 10, 100 - i % 7, 80)
        (d.ellipse if shape == "circle" else d.rectangle)(box, fill=SHAPE_COLOURS[colour])
        name = f"shape{i:02d}.jpg"
        im.save(tmp_path / name, quality=90)
        raws = [
            f"a {colour} {shape} on a white background",
            f"a {colour} {shape}",
            f"the {shape} is {colour}",
        ]
        images.append(
            {
                "filename": name,
                "split": "val" if i >= 16 else "train",
                "sentences": [{"raw": r} for r in raws],
            }
        )
    path = tmp_path / "dataset_shapes.json"
    path.write_text(json.dumps({"dataset": "shapes", "images": images}))
    return path
