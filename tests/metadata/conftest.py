"""Build test photos: synthetic JPEGs with rich EXIF, PNG, WebP, TIFF; copy the real camera ones.

The builders are session fixtures returning a function, so test modules import nothing
from each other.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, ImageCms

from annotator.metadata import jpeg

DATA = Path(__file__).parent / "data"
CAMERA_PHOTOS = sorted(DATA.glob("*.jpg"))
MAKERNOTE = b"TESTCAM\x00" + bytes(range(256)) * 4  # opaque bytes that must survive untouched
EXIFTOOL = shutil.which("exiftool")


def _picture(width: int = 160, height: int = 120, seed: int = 0) -> Image.Image:
    """Return a small RGB picture with gradients and noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    noisy = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy, "RGB")


def _srgb_icc() -> bytes:
    """Return an sRGB ICC profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def iptc_segment(caption: str | None = None) -> jpeg.Segment:
    """Return a Photoshop APP13 segment with IPTC (UTF-8, object name, keyword, caption)."""

    def ds(record: int, number: int, value: bytes) -> bytes:
        return bytes((0x1C, record, number)) + len(value).to_bytes(2, "big") + value

    record = ds(1, 90, b"\x1b%G") + ds(2, 5, b"Test object") + ds(2, 25, b"keyword")
    if caption is not None:
        record += ds(2, 120, caption.encode("utf-8"))
    resource = b"8BIM" + (0x0404).to_bytes(2, "big") + b"\x00\x00" + len(record).to_bytes(4, "big")
    resource += record + (b"\x00" if len(record) % 2 else b"")
    return jpeg.make_segment(jpeg.APP13, jpeg.PHOTOSHOP_HEADER + resource)


def _rich_exif(
    *, orientation: int = 1, description: bytes | None = None, makernote: bytes = MAKERNOTE
) -> bytes:
    """Return EXIF (from piexif) with camera tags, GPS, a maker note and a thumbnail."""
    thumb = io.BytesIO()
    _picture(40, 30, seed=1).save(thumb, "JPEG", quality=70)
    zeroth = {
        piexif.ImageIFD.Make: b"TestCam",
        piexif.ImageIFD.Model: b"T-1000",
        piexif.ImageIFD.Orientation: orientation,
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
        piexif.ImageIFD.Software: b"annotator tests",
    }
    if description is not None:
        zeroth[piexif.ImageIFD.ImageDescription] = description
    return piexif.dump(
        {
            "0th": zeroth,
            "Exif": {
                piexif.ExifIFD.DateTimeOriginal: b"2021:06:01 12:30:00",
                piexif.ExifIFD.ExposureTime: (1, 250),
                piexif.ExifIFD.FNumber: (28, 10),
                piexif.ExifIFD.MakerNote: makernote,
            },
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: b"N",
                piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"E",
                piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (300, 100)),
                piexif.GPSIFD.GPSAltitude: (35, 1),
            },
            "1st": {piexif.ImageIFD.Compression: 6},
            "thumbnail": thumb.getvalue(),
        }
    )


def _make_jpeg(
    path: Path,
    *,
    orientation: int = 1,
    description: bytes | None = None,
    iptc_caption: str | None = None,
    exif: bytes | None = None,
    with_exif: bool = True,
) -> Path:
    """Write a JPEG with EXIF (GPS, maker note, thumbnail), ICC, IPTC and a JPEG comment."""
    out = io.BytesIO()
    extra = {}
    if with_exif:
        extra["exif"] = exif or _rich_exif(orientation=orientation, description=description)
    _picture().save(
        out, "JPEG", quality=90, icc_profile=_srgb_icc(), comment=b"a JPEG comment", **extra
    )
    segments = jpeg.split(out.getvalue())
    at = next(i for i, s in enumerate(segments) if s.marker == 0xDB)  # before the first DQT
    segments.insert(at, iptc_segment(iptc_caption))
    path.write_bytes(jpeg.join(segments))
    return path


@pytest.fixture
def synthetic_jpeg(tmp_path: Path) -> Path:
    """Return a fresh synthetic JPEG with every kind of metadata."""
    return _make_jpeg(tmp_path / "synthetic.jpg")


@pytest.fixture(params=[p.name for p in CAMERA_PHOTOS])
def camera_jpeg(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Return a copy of one real camera JPEG (Canon, Minolta, Sony)."""
    target = tmp_path / request.param
    shutil.copyfile(DATA / request.param, target)
    return target


def _exiftool_json(path: Path, *tags: str) -> dict:
    """Return ExifTool's reading of ``path`` (groups as family 1, warnings included)."""
    if EXIFTOOL is None:
        pytest.skip("exiftool is not installed (Debian package libimage-exiftool-perl)")
    out = subprocess.run(
        [EXIFTOOL, "-j", "-a", "-G1", "-charset", "exif=UTF8", "-warning", *tags, str(path)],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)[0]


@pytest.fixture(scope="session")
def picture() -> Callable[..., Image.Image]:
    """Return ``(width, height, seed) -> image``: a small RGB picture, photo-like."""
    return _picture


@pytest.fixture(scope="session")
def srgb_icc() -> Callable[[], bytes]:
    """Return ``() -> bytes``: an sRGB ICC profile."""
    return _srgb_icc


@pytest.fixture(scope="session")
def rich_exif() -> Callable[..., bytes]:
    """Return the EXIF builder: camera tags, GPS, a maker note and a thumbnail."""
    return _rich_exif


@pytest.fixture(scope="session")
def make_jpeg() -> Callable[..., Path]:
    """Return the JPEG builder: ``(path, *, orientation, description, iptc_caption, exif)``."""
    return _make_jpeg


@pytest.fixture(scope="session")
def exiftool_json() -> Callable[..., dict]:
    """Return ``(path, *tags) -> dict``: ExifTool's reading (skips when it is not installed)."""
    return _exiftool_json


@pytest.fixture(scope="session")
def makernote() -> bytes:
    """Return the opaque maker note the synthetic JPEGs carry."""
    return MAKERNOTE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Return the folder of real camera photos."""
    return DATA
