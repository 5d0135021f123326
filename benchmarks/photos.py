"""Make realistic benchmark photos from the bundled samples (crops, brightness, EXIF)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import piexif
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[1]
CAMERA_EXIF = piexif.dump(
    {
        "0th": {
            piexif.ImageIFD.Make: b"Canon",
            piexif.ImageIFD.Model: b"EOS 400D",
            piexif.ImageIFD.Orientation: 1,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 12:00:00",
            piexif.ExifIFD.ExposureTime: (1, 250),
            piexif.ExifIFD.FNumber: (56, 10),
        },
    }
)


def make_photos(
    folder: Path, n: int, size: tuple[int, int], workers: int = 2, *, exif: bool = True
) -> list[Path]:
    """Write n distinct JPEGs of ``size`` (upscaled sample photos), with camera EXIF.

    Photos already in ``folder`` under the same name are kept (a reused ``--workdir``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    bases = [
        Image.open(p).convert("RGB") for p in sorted((REPO / "resources" / "samples").glob("*.jpg"))
    ]

    def one(i: int) -> Path:
        p = folder / f"IMG_{i:05d}.jpg"
        if p.is_file() and p.stat().st_size > 0:
            return p
        base = bases[i % len(bases)]
        w, h = base.size
        c = (i // len(bases)) % 40
        im = base.crop((c, c, w - c, h - c)).resize(size, Image.Resampling.BICUBIC)
        im = ImageEnhance.Brightness(im).enhance(0.8 + 0.4 * ((i * 37) % 100) / 100)
        im.save(p, quality=90, **({"exif": CAMERA_EXIF} if exif else {}))
        return p

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))
