"""Find photos under the watched folders and describe them for the library.

Hidden files and folders are skipped, as are the library's own files and
annotator's temporary files; symbolic-link loops are detected by (device, inode),
so a scan always ends. RAW files are captioned through their embedded JPEG preview.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from PIL import Image

from annotator.core.errors import ImageReadError
from annotator.library import PhotoFile
from annotator.metadata.container import RAW_SUFFIXES, content_digest

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif"})


def heif_available() -> bool:
    """Register pillow-heif's opener if it is installed; return whether HEIC can be read."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def supported_suffixes() -> frozenset[str]:
    """Return every file suffix the scanner picks up (RAW included)."""
    extra = HEIF_SUFFIXES if heif_available() else frozenset()
    return PHOTO_SUFFIXES | RAW_SUFFIXES | extra


def is_raw(path: Path) -> bool:
    """Return whether ``path`` is a camera RAW file (by suffix)."""
    return path.suffix.lower() in RAW_SUFFIXES


def iter_photos(
    root: Path, *, skip: Iterable[Path] = (), suffixes: frozenset[str] | None = None
) -> Iterator[Path]:
    """Yield the photo files under ``root``, depth first, in a stable order."""
    suffixes = suffixes or supported_suffixes()
    skip_set = {Path(p).resolve() for p in skip}
    seen: set[tuple[int, int]] = set()
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as exc:
            log.warning("%s: cannot read folder (%s)", folder, exc)
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop or a second link to a folder
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("%s: cannot list folder (%s)", folder, exc)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(path)
                elif (
                    entry.is_file(follow_symlinks=True)
                    and path.suffix.lower() in suffixes
                    and path.resolve() not in skip_set
                ):
                    yield path
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def raw_preview(path: Path, data: bytes | None = None) -> bytes:
    """Return the largest JPEG preview embedded in a RAW file.

    Uses rawpy (LibRaw) when installed; otherwise searches the file for embedded
    JPEG streams, which TIFF-based RAW formats (CR2, NEF, ARW, DNG, ...) carry.
    Raises ImageReadError "unsupported" when there is none.
    """
    try:
        import rawpy

        with rawpy.imread(str(path)) as raw:
            thumb = raw.extract_thumb()
            if thumb.format == rawpy.ThumbFormat.JPEG:
                return bytes(thumb.data)
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - LibRaw raises its own error types
        log.debug("%s: rawpy could not read a preview (%s)", path, exc)
    data = path.read_bytes() if data is None else data
    best, best_px = b"", 0
    start = data.find(b"\xff\xd8\xff")
    while start != -1:
        end = data.find(b"\xff\xd9", start)
        while end != -1:
            candidate = data[start : end + 2]
            try:
                with Image.open(io.BytesIO(candidate)) as im:
                    im.load()
                    px = im.width * im.height
                if px > best_px:
                    best, best_px = candidate, px
                break
            except (OSError, SyntaxError, ValueError):
                end = data.find(b"\xff\xd9", end + 2)  # an EOI inside the stream: go on
        start = data.find(b"\xff\xd8\xff", start + 3)
    if not best:
        raise ImageReadError(
            path,
            "unsupported RAW file: no embedded JPEG preview found "
            "(install rawpy for more RAW formats)",
        )
    return best


def _exif_facts(im: Image.Image) -> tuple[bool, datetime | None]:
    """Return (rotated by 90/270 degrees, DateTimeOriginal) from a photo's EXIF."""
    try:
        exif = im.getexif()
        rotated = exif.get(0x0112) in (5, 6, 7, 8)
        raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
        taken = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
        return rotated, taken
    except Exception:  # noqa: BLE001 - broken EXIF must not stop a scan
        return False, None


def photo_file(path: Path) -> PhotoFile:
    """Describe one file: identity digest, size, mtime, displayed size and date taken.

    The file is read once. An unreadable header leaves size fields empty; the
    decode stage reports the real reason later.
    """
    st = path.stat()
    data = path.read_bytes()
    width = height = None
    taken = None
    try:
        source = raw_preview(path, data) if is_raw(path) else data
        with Image.open(io.BytesIO(source)) as im:
            width, height = im.size
            rotated, taken = _exif_facts(im)
            if rotated:
                width, height = height, width
    except (ImageReadError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        pass  # the decode stage refuses the file with its reason
    return PhotoFile(
        path=path,
        content_hash=content_digest(data, path),
        size=st.st_size,
        mtime=st.st_mtime,
        width=width,
        height=height,
        taken_at=taken,
    )
