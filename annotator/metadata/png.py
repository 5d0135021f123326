"""Read and write the XMP ``iTXt`` chunk (keyword ``XML:com.adobe.xmp``) of a PNG file.

Every other chunk is copied byte for byte; a new XMP chunk goes just before the
first IDAT, where the XMP specification asks for it.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


class PngError(ValueError):
    """Report a PNG whose chunk structure cannot be parsed safely."""


@dataclass(frozen=True)
class Chunk:
    """One PNG chunk, kept as its raw bytes (length, type, data, CRC)."""

    type: bytes
    raw: bytes

    @property
    def data(self) -> bytes:
        """Return the chunk data."""
        return self.raw[8:-4]

    def is_xmp(self) -> bool:
        """Return whether this is the XMP iTXt chunk."""
        return self.type == b"iTXt" and self.data.startswith(XMP_KEYWORD + b"\x00")


def is_png(data: bytes) -> bool:
    """Return whether ``data`` starts with the PNG signature."""
    return data[:8] == SIGNATURE


def split(data: bytes) -> list[Chunk]:
    """Split a PNG into its chunks, checking lengths and CRCs, up to IEND."""
    if not is_png(data):
        raise PngError("not a PNG file")
    chunks: list[Chunk] = []
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            raise PngError(f"chunk at byte {pos} runs past the end of the file")
        chunk = Chunk(data[pos + 4 : pos + 8], data[pos:end])
        if zlib.crc32(chunk.raw[4:-4]) != int.from_bytes(chunk.raw[-4:], "big"):
            raise PngError(f"chunk {chunk.type!r} at byte {pos} has a bad CRC")
        chunks.append(chunk)
        pos = end
        if chunk.type == b"IEND":
            if pos < len(data):  # bytes after IEND are kept as they are
                chunks.append(Chunk(b"", data[pos:]))
            return chunks
    raise PngError("no IEND chunk")


def make_chunk(type_: bytes, data: bytes) -> Chunk:
    """Build a chunk with its length and CRC."""
    body = type_ + data
    return Chunk(type_, len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big"))


def _itxt_text(data: bytes) -> tuple[bytes, str]:
    """Return (keyword, text) of an iTXt chunk's data."""
    keyword, rest = data.split(b"\x00", 1)
    compressed, _method = rest[0], rest[1]
    _lang, rest = rest[2:].split(b"\x00", 1)
    _translated, text = rest.split(b"\x00", 1)
    return keyword, (zlib.decompress(text) if compressed else text).decode("utf-8")


def read_xmp(chunks: list[Chunk]) -> bytes | None:
    """Return the XMP packet of the first XMP iTXt chunk."""
    for c in chunks:
        if c.is_xmp():
            try:
                return _itxt_text(c.data)[1].encode("utf-8")
            except (ValueError, IndexError, zlib.error) as exc:
                raise PngError(f"unreadable XMP chunk: {exc}") from exc
    return None


def text_entries(chunks: list[Chunk]) -> dict[str, str]:
    """Return the tEXt, zTXt and iTXt keyword/text pairs other than XMP."""
    out: dict[str, str] = {}
    for c in chunks:
        if c.type not in _TEXT_TYPES or c.is_xmp():
            continue
        try:
            if c.type == b"iTXt":
                key, text = _itxt_text(c.data)
            elif c.type == b"zTXt":
                key, rest = c.data.split(b"\x00", 1)
                text = zlib.decompress(rest[1:]).decode("latin-1")
            else:
                key, raw = c.data.split(b"\x00", 1)
                text = raw.decode("latin-1")
        except (ValueError, IndexError, zlib.error):
            continue
        out.setdefault(key.decode("latin-1"), text)
    return out


def rebuild(data: bytes, *, xmp: bytes) -> bytes:
    """Return the PNG with its XMP iTXt chunk replaced, or added before the first IDAT."""
    chunks = split(data)
    new = make_chunk(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp)
    found = [i for i, c in enumerate(chunks) if c.is_xmp()]
    if len(found) > 1:
        raise PngError("the file holds more than one XMP chunk")
    if found:
        chunks[found[0]] = new
    else:
        idat = next((i for i, c in enumerate(chunks) if c.type == b"IDAT"), None)
        if idat is None:
            raise PngError("no IDAT chunk")
        chunks.insert(idat, new)
    return SIGNATURE + b"".join(c.raw for c in chunks)


def preserved_digest(data: bytes) -> str:
    """Hash every chunk but the XMP one, in order, plus anything after IEND."""
    h = hashlib.sha256()
    for c in split(data):
        if not c.is_xmp():
            h.update(len(c.raw).to_bytes(8, "big") + c.raw)
    return h.hexdigest()
