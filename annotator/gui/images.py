"""Make QImages off the GUI thread: thumbnails (with an on-disk cache), photos, heatmaps.

QImage may be built on any thread; QPixmap only on the GUI thread, so these
functions return QImage and the GUI converts.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from annotator.model.plot import upsample_attention
from annotator.model.preprocess import load_rgb

THUMB_SIZE = 320  # longest side of a cached thumbnail, in pixels
PHOTO_SIZE = 2048  # longest side of the photo shown in the review panel

# Control points of a perceptual "inferno"-like colormap (position, r, g, b).
_STOPS = np.array(
    [
        (0.00, 0, 0, 4),
        (0.15, 31, 12, 72),
        (0.30, 85, 15, 109),
        (0.45, 136, 34, 106),
        (0.60, 186, 54, 85),
        (0.72, 227, 89, 51),
        (0.84, 249, 140, 10),
        (0.93, 249, 201, 50),
        (1.00, 252, 255, 164),
    ],
    dtype=np.float32,
)


def _colormap() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    return np.stack([np.interp(x, _STOPS[:, 0], _STOPS[:, c]) for c in (1, 2, 3)], axis=1).astype(
        np.uint8
    )  # (256, 3)


COLORMAP = _colormap()


def pil_to_qimage(im: Image.Image) -> QImage:
    """Return an RGB Pillow image as a QImage that owns its pixels."""
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    w, h = rgb.size
    data = rgb.tobytes()
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def array_to_qimage(rgba: np.ndarray) -> QImage:
    """Return an (H, W, 4) uint8 RGBA array as a QImage that owns its pixels."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def thumbnail_key(path: Path, size: int = THUMB_SIZE) -> str:
    """Return the cache key of ``path``: its path, mtime, byte size and the thumbnail size."""
    st = path.stat()
    text = f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0{size}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def thumbnail(path: str | Path, cache: Path | None, size: int = THUMB_SIZE) -> QImage:
    """Return the thumbnail of ``path``, from ``cache`` when there, else made and cached.

    Raises ``OSError`` or ``ImageReadError`` for a photo that cannot be read.
    """
    path = Path(path)
    cached = None
    if cache is not None:
        key = thumbnail_key(path, size)
        cached = cache / key[:2] / f"{key}.jpg"
        if cached.is_file():
            try:
                with Image.open(cached) as im:
                    return pil_to_qimage(im.convert("RGB"))
            except OSError:
                pass  # a broken cache file: make it again
    rgb, _, _ = load_rgb(path, target=size)
    rgb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            rgb.save(tmp, "JPEG", quality=85)
            tmp.replace(cached)
        except OSError:
            pass  # a read-only cache only costs speed
    return pil_to_qimage(rgb)


def load_photo(path: str | Path, size: int = PHOTO_SIZE) -> QImage:
    """Return the photo, oriented and at most ``size`` pixels on its longest side."""
    rgb, _, _ = load_rgb(path, target=size)
    if max(rgb.size) > size:
        rgb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return pil_to_qimage(rgb)


def heatmap(
    att: np.ndarray, size: tuple[int, int], *, opacity: float = 0.6, blur: float | None = None
) -> QImage:
    """Return an RGBA heatmap of one attention map (H, W), ``size`` = (width, height).

    Colours follow an inferno-like colormap (from its purple, skipping the black);
    alpha grows with attention, so the photo stays untouched where the model did
    not look.
    """
    w, h = max(1, size[0]), max(1, size[1])
    a = upsample_attention(att, (w, h), blur=max(w, h) / 40 if blur is None else blur)
    idx = np.clip((0.3 + 0.7 * a) * 255.0, 0, 255).astype(np.uint8)
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = COLORMAP[idx]
    rgba[..., 3] = np.clip(np.power(a, 0.8) * opacity * 255.0, 0, 255).astype(np.uint8)
    return array_to_qimage(rgba)
