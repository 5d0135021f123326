"""Shrink a camera JPEG for use as a test fixture, keeping its metadata segments byte for byte.

Usage: python shrink_camera_photo.py SOURCE.jpg DEST.jpg [MAX_SIDE]

The image is decoded, scaled down and re-encoded; every APPn and COM segment of
the source (EXIF with its maker note and thumbnail, XMP, ICC, IPTC, ...) is then
put in front of the new image data unchanged. EXIF's pixel dimensions keep
describing the original size.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

from annotator.metadata import jpeg


def shrink(source: Path, dest: Path, max_side: int = 640) -> None:
    """Write ``dest``: ``source``'s metadata segments in front of a smaller re-encoding."""
    data = source.read_bytes()
    metadata = [s for s in jpeg.split(data) if 0xE0 <= s.marker <= 0xEF or s.marker == jpeg.COM]
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max_side, max_side))
        small = im.convert("RGB")
        small.thumbnail((max_side, max_side))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=80)
    image = [s for s in jpeg.split(out.getvalue()) if not 0xE0 <= s.marker <= 0xEF]
    dest.write_bytes(jpeg.join(metadata + image))


if __name__ == "__main__":
    shrink(Path(sys.argv[1]), Path(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
