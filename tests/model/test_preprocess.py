from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import piexif
import pytest
import torch
from PIL import Image

from annotator.core.errors import ImageReadError
from annotator.model.preprocess import Preprocess, load_image, load_rgb

PRESET = Preprocess.for_encoder("efficientnet-lite0")


def pixel(t: torch.Tensor, y: int, x: int) -> np.ndarray:
    """Return the un-normalised 0..255 RGB value of the tensor at (y, x)."""
    mean = torch.tensor(PRESET.mean).view(3)
    std = torch.tensor(PRESET.std).view(3)
    return ((t[:, y, x] * std + mean) * 255).round().numpy()


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100] = (255, 0, 0)  # left half red, right half blue
    arr[:, 100:] = (0, 0, 255)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})  # rotate 90 CW to display
    path = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(path, quality=95, exif=exif)
    img = load_image(path, PRESET)
    assert (img.width, img.height) == (100, 200)
    top, bottom = pixel(img.tensor, 10, 112), pixel(img.tensor, 210, 112)
    assert top[0] > 200 and top[2] < 60  # red is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_large_jpeg_is_decoded_in_draft_mode(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path, quality=85)
    rgb, w, h = load_rgb(path, target=224)
    assert (w, h) == (4000, 3000)
    assert rgb.size == (500, 375)  # decoded at 1/8 scale, still >= 224 on both sides
    assert load_image(path, PRESET).tensor.shape == (3, 224, 224)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "LA", "I;16"])
def test_every_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    base = Image.new("RGB", (64, 48), (153, 153, 153))  # a web-palette level
    if mode == "I;16":
        im = Image.fromarray(np.full((48, 64), 153 * 257, np.uint16))
        path = tmp_path / "sixteen.png"
    else:
        im = base.convert(mode)
        path = tmp_path / f"m.{'jpg' if mode in ('L', 'CMYK') else 'png'}"
    im.save(path)
    t = load_image(path, PRESET).tensor
    assert t.shape == (3, 224, 224)
    assert np.allclose(pixel(t, 100, 100), 153, atol=6), f"{mode} became {pixel(t, 100, 100)}"


def test_transparent_png_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (32, 32), (255, 0, 0, 0)).save(path)
    assert np.allclose(pixel(load_image(path, PRESET).tensor, 5, 5), 255, atol=2)


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, _, b = pixel(load_image(path, PRESET).tensor, 50, 50)
    assert r > 200 and b < 60


def test_broken_exif_block_is_ignored(tmp_path: Path) -> None:
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 200, 0)).save(good, "JPEG")
    data = good.getvalue()
    garbage = b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x13" * 40
    app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
    path = tmp_path / "badexif.jpg"
    path.write_bytes(data[:2] + app1 + data[2:])
    img = load_image(path, PRESET)
    assert pixel(img.tensor, 50, 50)[1] > 150


@pytest.mark.parametrize("name", ["missing", "directory", "empty", "text", "truncated", "bomb"])
def test_bad_input_raises_one_clear_line(tmp_path: Path, name: str, bad_inputs) -> None:
    path, reason = bad_inputs(tmp_path)[name]
    with pytest.raises(ImageReadError) as err:
        load_image(path, PRESET)
    msg = str(err.value)
    assert str(path) in msg and reason in msg and "\n" not in msg
