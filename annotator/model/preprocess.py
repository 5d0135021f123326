"""Turn a photo file into a normalised tensor: the one preset shared by training and inference.

Steps: open lazily; refuse decompression bombs; decode JPEGs with Pillow's draft mode
at the smallest scale that is still at least the target size; take the first frame
of animations; apply EXIF orientation; convert every mode to RGB (16-bit scaled,
alpha composited on white, CMYK converted); resize to a square *without cropping*
(the Flickr8k training photos were stretched the same way); normalise with the
encoder's statistics.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from annotator.core.errors import ImageReadError
from annotator.model.config import encoder_spec

log = logging.getLogger(__name__)

MAX_PIXELS_DEFAULT = 200_000_000  # refuse anything larger: 200 MP covers every real camera
RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocess:
    """Describe how a photo becomes the encoder's input tensor; stored in every checkpoint."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: str = "bicubic"
    background: tuple[int, int, int] = (255, 255, 255)  # alpha is composited on this
    max_pixels: int = MAX_PIXELS_DEFAULT

    @classmethod
    def for_encoder(cls, name: str) -> Preprocess:
        """Return the preset of encoder ``name``."""
        spec = encoder_spec(name)
        return cls(image_size=spec.image_size, mean=spec.mean, std=spec.std)

    def to_dict(self) -> dict[str, Any]:
        """Return the preset as a JSON-compatible dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Rebuild a preset from :meth:`to_dict` output."""
        return cls(
            image_size=int(data["image_size"]),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
            resample=data.get("resample", "bicubic"),
            background=tuple(data.get("background", (255, 255, 255))),
            max_pixels=int(data.get("max_pixels", MAX_PIXELS_DEFAULT)),
        )

    def key(self) -> str:
        """Return a stable string identifying this preset (used to key feature caches)."""
        return f"{self.image_size}|{self.mean}|{self.std}|{self.resample}|{self.background}"


@dataclass(frozen=True)
class LoadedImage:
    """A decoded photo: the encoder input and the photo's displayed size."""

    tensor: torch.Tensor  # (3, S, S) float32, normalised
    width: int  # after EXIF orientation, at full resolution
    height: int


def open_image(
    path: str | Path, max_pixels: int = MAX_PIXELS_DEFAULT, data: bytes | None = None
) -> Image.Image:
    """Open ``path`` (or ``data``, the bytes of ``path``) lazily, with one-line errors."""
    path = Path(path)
    if data is None:
        if not path.exists():
            raise ImageReadError(path, "file not found")
        if path.is_dir():
            raise ImageReadError(path, "is a directory, not a photo")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageReadError(path, f"cannot stat file: {exc.strerror or exc}") from exc
        if size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
    elif not data:
        raise ImageReadError(path, "empty image data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path if data is None else io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(path, f"too many pixels (decompression bomb guard): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(path, "not a recognised image format") from exc
    except OSError as exc:
        raise ImageReadError(path, f"cannot open image: {exc}") from exc
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageReadError(
            path,
            f"too many pixels ({w}x{h} = {w * h:,} > limit {max_pixels:,}); "
            "refusing a possible decompression bomb",
        )
    return im


def _orientation(im: Image.Image, path: Path) -> Image.Image:
    """Apply EXIF orientation; a broken EXIF block is ignored with a debug note."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt EXIF
        log.debug("%s: ignoring unreadable EXIF orientation (%s)", path, exc)
        return im


def to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (16-bit scaled, alpha composited on ``background``)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr8 = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")


def load_rgb(
    path: str | Path,
    target: int | None = None,
    max_pixels: int = MAX_PIXELS_DEFAULT,
    background: tuple[int, int, int] = (255, 255, 255),
    data: bytes | None = None,
) -> tuple[Image.Image, int, int]:
    """Decode ``path`` (or ``data``) to RGB, returning it with the full-size (width, height).

    With ``target``, JPEGs are decoded in draft mode at the smallest power-of-two
    reduction that keeps both sides >= ``target``.
    """
    path = Path(path)
    im = open_image(path, max_pixels, data)
    try:
        full_w, full_h = im.size
        if getattr(im, "is_animated", False):
            im.seek(0)
        if target is not None and im.format == "JPEG":
            im.draft("RGB", (target, target))
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower():
            reason = "truncated or incomplete image data"
        raise ImageReadError(path, f"cannot decode image: {reason}") from exc
    oriented = _orientation(im, path)
    if oriented.size != im.size:  # rotated by 90/270: swap the reported size too
        full_w, full_h = full_h, full_w
    try:
        rgb = to_rgb(oriented, background)
    except (OSError, ValueError) as exc:
        raise ImageReadError(path, f"cannot convert {oriented.mode} image to RGB: {exc}") from exc
    return rgb, full_w, full_h


def image_to_tensor(rgb: Image.Image, preset: Preprocess) -> torch.Tensor:
    """Resize an RGB image to the preset's square size and normalise it -> (3, S, S)."""
    s = preset.image_size
    if rgb.size != (s, s):
        rgb = rgb.resize((s, s), RESAMPLE[preset.resample])
    arr = np.asarray(rgb, dtype=np.float32) / 255.0  # (S, S, 3)
    t = torch.from_numpy(arr).permute(2, 0, 1)  # (3, S, S)
    mean = torch.tensor(preset.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(preset.std, dtype=torch.float32).view(3, 1, 1)
    return ((t - mean) / std).contiguous()  # (3, S, S)


def load_image(path: str | Path, preset: Preprocess, data: bytes | None = None) -> LoadedImage:
    """Decode, orient, convert and normalise one photo (or its bytes) for the encoder."""
    rgb, w, h = load_rgb(path, preset.image_size, preset.max_pixels, preset.background, data)
    return LoadedImage(image_to_tensor(rgb, preset), w, h)
