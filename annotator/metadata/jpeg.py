"""Split a JPEG into its marker segments and put it back together with new EXIF and XMP.

Only the EXIF APP1 and the standard XMP APP1 segments are ever replaced or added;
every other segment (JFIF, ICC, IPTC, MPF, comments, tables) and the compressed
image data after the first SOS marker are copied byte for byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

SOI = b"\xff\xd8"
EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
ICC_HEADER = b"ICC_PROFILE\x00"
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2  # the length field counts itself
MAX_XMP_PACKET = MAX_SEGMENT_PAYLOAD - len(XMP_HEADER)  # 65504 bytes
MAX_EXIF_TIFF = MAX_SEGMENT_PAYLOAD - len(EXIF_HEADER)

APP0, APP1, APP2, APP13, COM, SOS = 0xE0, 0xE1, 0xE2, 0xED, 0xFE, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class JpegError(ValueError):
    """Report a JPEG whose structure cannot be parsed safely."""


@dataclass(frozen=True)
class Segment:
    """One marker segment; ``marker`` 0 stands for the image data from the first SOS on."""

    marker: int
    raw: bytes  # the whole segment: fill bytes, marker, length and payload
    header_len: int = 4  # bytes before the payload

    @property
    def payload(self) -> bytes:
        """Return the bytes after the marker and length field."""
        return self.raw[self.header_len :] if self.marker else self.raw

    def is_app(self, marker: int, header: bytes) -> bool:
        """Return whether this is an APPn segment whose payload starts with ``header``."""
        return self.marker == marker and self.payload.startswith(header)


def is_jpeg(data: bytes) -> bool:
    """Return whether ``data`` starts like a JPEG file."""
    return data[:3] == b"\xff\xd8\xff"


def split(data: bytes) -> list[Segment]:
    """Split a JPEG into the segments before the first SOS plus one image-data tail."""
    if not is_jpeg(data):
        raise JpegError("not a JPEG file")
    segments: list[Segment] = []
    pos, size = 2, len(data)
    while pos < size:
        if data[pos] != 0xFF:
            raise JpegError(f"expected a marker at byte {pos}")
        start = pos
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            raise JpegError("file ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == SOS or marker == 0xD9:
            segments.append(Segment(0, data[start:], 0))
            return segments
        if marker in _STANDALONE:
            segments.append(Segment(marker, data[start:pos], pos - start))
            continue
        if pos + 2 > size:
            raise JpegError("file ends inside a segment length")
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            raise JpegError(f"segment 0xFF{marker:02X} at byte {start} runs past the end")
        segments.append(Segment(marker, data[start:end], pos + 2 - start))
        pos = end
    raise JpegError("no image data (SOS) found")


def join(segments: list[Segment]) -> bytes:
    """Put segments back together behind an SOI marker."""
    return SOI + b"".join(s.raw for s in segments)


def make_segment(marker: int, payload: bytes) -> Segment:
    """Build one APPn segment; raise ``JpegError`` if the payload is over 64 KB."""
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise JpegError(f"segment payload of {len(payload)} bytes exceeds the 64 KB limit")
    return Segment(marker, bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload)


def exif_index(segments: list[Segment]) -> int | None:
    """Return the index of the first EXIF APP1 segment."""
    return next((i for i, s in enumerate(segments) if s.is_app(APP1, EXIF_HEADER)), None)


def xmp_indices(segments: list[Segment]) -> list[int]:
    """Return the indices of the standard (not extended) XMP APP1 segments."""
    return [i for i, s in enumerate(segments) if s.is_app(APP1, XMP_HEADER)]


def read_exif(segments: list[Segment]) -> bytes | None:
    """Return the TIFF block of the first EXIF segment."""
    i = exif_index(segments)
    return None if i is None else segments[i].payload[len(EXIF_HEADER) :]


def read_xmp(segments: list[Segment]) -> bytes | None:
    """Return the first standard XMP packet."""
    found = xmp_indices(segments)
    return segments[found[0]].payload[len(XMP_HEADER) :] if found else None


def rebuild(data: bytes, *, exif: bytes | None, xmp: bytes | None) -> bytes:
    """Return ``data`` with its EXIF TIFF block and/or XMP packet replaced or added.

    ``None`` leaves that part as it is. New segments go where ExifTool puts them:
    EXIF right after SOI (after a leading JFIF APP0), XMP right after EXIF.
    """
    segments = split(data)
    if exif is not None:
        if len(exif) > MAX_EXIF_TIFF:
            raise JpegError(f"EXIF of {len(exif)} bytes does not fit in one 64 KB APP1 segment")
        new = make_segment(APP1, EXIF_HEADER + exif)
        i = exif_index(segments)
        if i is None:
            segments.insert(_first_app_slot(segments), new)
        else:
            segments[i] = new
    if xmp is not None:
        if len(xmp) > MAX_XMP_PACKET:
            raise JpegError(
                f"XMP packet of {len(xmp)} bytes exceeds the {MAX_XMP_PACKET}-byte APP1 limit"
            )
        new = make_segment(APP1, XMP_HEADER + xmp)
        found = xmp_indices(segments)
        if len(found) > 1:
            raise JpegError("the file holds more than one standard XMP segment")
        if found:
            segments[found[0]] = new
        else:
            i = exif_index(segments)
            segments.insert(_first_app_slot(segments) if i is None else i + 1, new)
    return join(segments)


def _first_app_slot(segments: list[Segment]) -> int:
    """Return where a new APP segment goes: after a leading JFIF APP0, else first."""
    if segments and segments[0].is_app(APP0, b"JFIF\x00"):
        return 1
    return 0


def preserved_digest(data: bytes) -> str:
    """Hash everything a caption write must not touch: all but the EXIF and standard XMP APP1.

    The first EXIF segment and every standard XMP segment are left out; all
    other segments, in order, and the compressed image data are hashed.
    """
    segments = split(data)
    skip = set(xmp_indices(segments))
    i = exif_index(segments)
    if i is not None:
        skip.add(i)
    h = hashlib.sha256()
    for n, s in enumerate(segments):
        if n not in skip:
            h.update(len(s.raw).to_bytes(8, "big"))
            h.update(s.raw)
    return h.hexdigest()


def image_data_digest(data: bytes) -> str:
    """Hash the compressed image: every non-APPn, non-COM segment and the scan data."""
    h = hashlib.sha256()
    for s in split(data):
        if not (0xE0 <= s.marker <= 0xEF or s.marker == COM):
            h.update(s.raw)
    return h.hexdigest()


def comments(segments: list[Segment]) -> list[bytes]:
    """Return the payloads of the COM segments."""
    return [s.payload for s in segments if s.marker == COM]


def trailer_start(data: bytes) -> int | None:
    """Return where data after the main image's EOI begins, or None if nothing follows EOI."""
    segments = split(data)
    scan_start = len(data) - len(segments[-1].raw)
    # Entropy-coded data stuffs every 0xFF with 0x00, so the first FFD9 after SOS is the EOI.
    eoi = data.find(b"\xff\xd9", scan_start)
    if eoi < 0 or eoi + 2 >= len(data):
        return None
    return eoi + 2


def trailer_reference(data: bytes) -> str | None:
    """Say why data after EOI would break if earlier segments changed size, or None if safe.

    Some cameras (Minolta, Sony, Samsung, ...) keep a preview image after EOI and
    point at it with an offset from the EXIF header, sometimes a few bytes off
    (ExifTool fixes those up). A 32-bit value in EXIF that lands within 64 bytes
    of the start of a JPEG in the trailer counts as such a pointer. An MPF
    segment placed before EXIF would likewise see its images move.
    """
    start = trailer_start(data)
    if start is None:
        return None
    # A JPEG starts FF D8 FF; Minolta writes the first byte wrong, so look for D8 FF.
    starts = [m - 1 for m in _find_all(data, b"\xd8\xff", start)]
    pos = 2
    for s in split(data):
        if s.is_app(APP2, b"MPF\x00"):
            return "an MPF segment before EXIF points at images after the main one"
        if s.is_app(APP1, EXIF_HEADER):
            base = pos + s.header_len + len(EXIF_HEADER)
            tiff = s.payload[len(EXIF_HEADER) :]
            order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"
            for i in range(len(tiff) - 3):  # every byte: some writers leave values unaligned
                target = base + int.from_bytes(tiff[i : i + 4], order)
                if start <= target < len(data) and any(abs(target - m) <= 64 for m in starts):
                    return "the maker note points at a preview image stored after the main image"
            return None  # an MPF segment after EXIF moves together with its images
        pos += len(s.raw)
    return None


def _find_all(data: bytes, needle: bytes, start: int) -> list[int]:
    """Return every offset of ``needle`` in ``data`` from ``start`` on."""
    found = []
    i = data.find(needle, start)
    while i >= 0:
        found.append(i)
        i = data.find(needle, i + 1)
    return found
