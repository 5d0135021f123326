"""Read and write the EXIF and XMP chunks of a WebP (RIFF) file.

A simple-format file (a lone VP8 or VP8L chunk) is turned into the extended
format by adding a VP8X chunk whose canvas size is read from the bitstream
header, as libwebp's ``webpmux`` does. Image chunks, ICC profile, animation
and unknown chunks are copied byte for byte; EXIF and XMP go after the image
data, in the order the WebP container specification gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FLAG_ICC, FLAG_ALPHA, FLAG_EXIF, FLAG_XMP, FLAG_ANIM = 0x20, 0x10, 0x08, 0x04, 0x02
_IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF")
_METADATA_CHUNKS = (b"VP8X", b"EXIF", b"XMP ")


class WebpError(ValueError):
    """Report a WebP file whose structure cannot be handled safely."""


@dataclass(frozen=True)
class Chunk:
    """One RIFF chunk: its FourCC and payload (padding byte not included)."""

    fourcc: bytes
    payload: bytes

    @property
    def raw(self) -> bytes:
        """Return the chunk as stored, with its size field and padding byte."""
        pad = b"\x00" if len(self.payload) % 2 else b""
        return self.fourcc + len(self.payload).to_bytes(4, "little") + self.payload + pad


def is_webp(data: bytes) -> bool:
    """Return whether ``data`` starts like a WebP file."""
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def split(data: bytes) -> list[Chunk]:
    """Split a WebP file into its chunks; refuse trailing bytes or a wrong RIFF size."""
    if not is_webp(data):
        raise WebpError("not a WebP file")
    riff_size = int.from_bytes(data[4:8], "little")
    if riff_size + 8 != len(data):
        raise WebpError(f"RIFF size {riff_size + 8} does not match the file size {len(data)}")
    chunks, pos = [], 12
    while pos < len(data):
        if pos + 8 > len(data):
            raise WebpError(f"truncated chunk header at byte {pos}")
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size
        if end > len(data):
            raise WebpError(f"chunk at byte {pos} runs past the end of the file")
        chunks.append(Chunk(data[pos : pos + 4], data[pos + 8 : end]))
        pos = end + (size % 2)
    if not any(c.fourcc in _IMAGE_CHUNKS for c in chunks):
        raise WebpError("no image chunk")
    return chunks


def join(chunks: list[Chunk]) -> bytes:
    """Return the RIFF file made of ``chunks``."""
    body = b"WEBP" + b"".join(c.raw for c in chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def read_chunk(chunks: list[Chunk], fourcc: bytes) -> bytes | None:
    """Return the payload of the first chunk named ``fourcc``."""
    return next((c.payload for c in chunks if c.fourcc == fourcc), None)


def read_exif(chunks: list[Chunk]) -> bytes | None:
    """Return the EXIF TIFF block (without an ``Exif\\0\\0`` prefix some writers add)."""
    payload = read_chunk(chunks, b"EXIF")
    if payload is not None and payload.startswith(b"Exif\x00\x00"):
        return payload[6:]
    return payload


def _canvas(chunk: Chunk) -> tuple[int, int, bool]:
    """Return (width, height, has alpha) from a VP8 or VP8L bitstream header."""
    p = chunk.payload
    if chunk.fourcc == b"VP8 ":
        if len(p) < 10 or p[3:6] != b"\x9d\x01\x2a":
            raise WebpError("VP8 bitstream without a key-frame start code")
        w = int.from_bytes(p[6:8], "little") & 0x3FFF
        h = int.from_bytes(p[8:10], "little") & 0x3FFF
        return w, h, False
    if len(p) < 5 or p[0] != 0x2F:
        raise WebpError("VP8L bitstream without its signature")
    bits = int.from_bytes(p[1:5], "little")
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)


def rebuild(data: bytes, *, exif: bytes | None, xmp: bytes | None) -> bytes:
    """Return the file with its EXIF and/or XMP chunk replaced or added (None: leave it)."""
    chunks = split(data)
    if chunks[0].fourcc != b"VP8X":
        if len(chunks) != 1 or chunks[0].fourcc not in (b"VP8 ", b"VP8L"):
            raise WebpError("a simple-format WebP with more than one chunk")
        w, h, alpha = _canvas(chunks[0])
        flags = FLAG_ALPHA if alpha else 0
        vp8x = (
            bytes((flags, 0, 0, 0)) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        )
        chunks.insert(0, Chunk(b"VP8X", vp8x))
    if exif is not None and read_chunk(chunks, b"EXIF") is not None:
        old = read_chunk(chunks, b"EXIF")
        assert old is not None
        if old.startswith(b"Exif\x00\x00"):  # keep the writer's prefix convention
            exif = b"Exif\x00\x00" + exif
    for fourcc, payload in ((b"EXIF", exif), (b"XMP ", xmp)):
        if payload is None:
            continue
        found = [i for i, c in enumerate(chunks) if c.fourcc == fourcc]
        if len(found) > 1:
            raise WebpError(f"the file holds more than one {fourcc.decode().strip()} chunk")
        if found:
            chunks[found[0]] = Chunk(fourcc, payload)
        else:
            after = max(i for i, c in enumerate(chunks) if c.fourcc in (*_IMAGE_CHUNKS, b"EXIF"))
            chunks.insert(after + 1, Chunk(fourcc, payload))
    flags = chunks[0].payload[0]
    if any(c.fourcc == b"EXIF" for c in chunks):
        flags |= FLAG_EXIF
    if any(c.fourcc == b"XMP " for c in chunks):
        flags |= FLAG_XMP
    chunks[0] = Chunk(b"VP8X", bytes((flags,)) + chunks[0].payload[1:])
    return join(chunks)


def preserved_digest(data: bytes) -> str:
    """Hash every chunk but VP8X, EXIF and XMP, in order.

    VP8X is left out because a simple-format file gains one; ``canvas_flags``
    checks it instead.
    """
    h = hashlib.sha256()
    for c in split(data):
        if c.fourcc not in _METADATA_CHUNKS:
            h.update(c.raw)
    return h.hexdigest()


def canvas_flags(data: bytes) -> tuple[int, int, int]:
    """Return (width, height, ICC/alpha/animation flags) as VP8X says or the bitstream implies."""
    chunks = split(data)
    if chunks[0].fourcc == b"VP8X":
        p = chunks[0].payload
        width = int.from_bytes(p[4:7], "little") + 1
        height = int.from_bytes(p[7:10], "little") + 1
        return width, height, p[0] & (FLAG_ICC | FLAG_ALPHA | FLAG_ANIM)
    w, h, alpha = _canvas(chunks[0])
    return w, h, FLAG_ALPHA if alpha else 0


def image_data_digest(data: bytes) -> str:
    """Hash the compressed image chunks (VP8, VP8L, ALPH, ANMF)."""
    h = hashlib.sha256()
    for c in split(data):
        if c.fourcc in _IMAGE_CHUNKS:
            h.update(c.raw)
    return h.hexdigest()
