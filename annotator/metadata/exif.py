"""Read and set EXIF ``ImageDescription`` without moving any other byte of the EXIF block.

piexif's ``load`` → ``dump`` re-lays out the whole TIFF structure (and rewrites
it big-endian), which breaks maker notes that hold absolute offsets (Canon,
Sony, ...) and drops tags piexif does not know. So an existing EXIF block is
patched the way exiv2's non-intrusive writer does it: the description goes into
its old place when it fits, else at the end of the block; if IFD0 needs a new
entry, IFD0 is copied to the end of the block and the header pointed at the
copy. Nothing else moves, so every offset (maker notes, thumbnail, sub-IFDs)
stays valid. piexif creates EXIF for files without any, and serves as the
independent reader that checks each patch.
"""

from __future__ import annotations

import struct
from typing import Any

import piexif

IMAGE_DESCRIPTION = 0x010E
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_THUMB_OFFSET, _THUMB_LENGTH = 0x0201, 0x0202
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_ASCII = 2

Entry = tuple[int, int, bytes]  # (type, count, the 4 value/offset bytes)


class ExifError(ValueError):
    """Report an EXIF block that cannot be patched or read back losslessly."""


def _header(tiff: bytes) -> tuple[str, int]:
    """Return the struct byte-order prefix and the IFD0 offset of a TIFF block."""
    if tiff[:4] == b"II*\x00":
        endian = "<"
    elif tiff[:4] == b"MM\x00*":
        endian = ">"
    else:
        raise ExifError("EXIF block does not start with a TIFF header")
    (ifd0,) = struct.unpack(endian + "I", tiff[4:8])
    return endian, ifd0


def _read_ifd(tiff: bytes, offset: int, endian: str) -> tuple[list[tuple[int, Entry]], int]:
    """Return the entries of the IFD at ``offset`` and its next-IFD pointer."""
    if offset < 8 or offset + 2 > len(tiff):
        raise ExifError(f"IFD offset {offset} lies outside the EXIF block")
    (count,) = struct.unpack(endian + "H", tiff[offset : offset + 2])
    end = offset + 2 + 12 * count
    if end + 4 > len(tiff):
        raise ExifError(f"IFD at {offset} with {count} entries runs past the EXIF block")
    entries = []
    for i in range(count):
        pos = offset + 2 + 12 * i
        tag, typ, n = struct.unpack(endian + "HHI", tiff[pos : pos + 8])
        entries.append((tag, (typ, n, tiff[pos + 8 : pos + 12])))
    (next_ifd,) = struct.unpack(endian + "I", tiff[end : end + 4])
    return entries, next_ifd


def _value(tiff: bytes, endian: str, entry: Entry) -> bytes:
    """Return the value bytes of one entry, following its offset when out of line."""
    typ, count, raw = entry
    size = _TYPE_SIZES.get(typ, 1) * count
    if size <= 4:
        return raw[:size]
    (offset,) = struct.unpack(endian + "I", raw)
    if offset + size > len(tiff):
        raise ExifError(f"a value at {offset} ({size} bytes) runs past the EXIF block")
    return tiff[offset : offset + size]


def read_description(tiff: bytes) -> str | None:
    """Return IFD0 ``ImageDescription`` decoded as UTF-8 (Latin-1 if it is not), or None."""
    endian, ifd0 = _header(tiff)
    entries, _ = _read_ifd(tiff, ifd0, endian)
    for tag, entry in entries:
        if tag == IMAGE_DESCRIPTION:
            raw = _value(tiff, endian, entry).split(b"\x00", 1)[0]
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
    return None


def set_description(tiff: bytes, text: str) -> bytes:
    """Return ``tiff`` with IFD0 ``ImageDescription`` set to ``text`` in UTF-8, moving nothing."""
    endian, ifd0 = _header(tiff)
    entries, next_ifd = _read_ifd(tiff, ifd0, endian)
    value = text.encode("utf-8") + b"\x00"
    buf = bytearray(tiff)

    def append(data: bytes) -> int:
        if len(buf) % 2:  # TIFF values start on a word boundary
            buf.append(0)
        offset = len(buf)
        buf.extend(data)
        return offset

    def pack_entry(raw: bytes) -> bytes:
        return struct.pack(endian + "HHI", IMAGE_DESCRIPTION, _ASCII, len(value)) + raw

    tags = [tag for tag, _ in entries]
    if IMAGE_DESCRIPTION in tags:
        i = tags.index(IMAGE_DESCRIPTION)
        typ, count, raw = entries[i][1]
        old_size = _TYPE_SIZES.get(typ, 1) * count
        pos = ifd0 + 2 + 12 * i
        if len(value) <= 4:
            raw = value.ljust(4, b"\x00")
        elif old_size > 4 and len(value) <= old_size:
            (offset,) = struct.unpack(endian + "I", raw)
            if offset + old_size > len(buf):
                raise ExifError("the old ImageDescription runs past the EXIF block")
            buf[offset : offset + old_size] = value.ljust(old_size, b"\x00")
        else:
            raw = struct.pack(endian + "I", append(value))
        buf[pos : pos + 12] = pack_entry(raw)
        return bytes(buf)

    # No ImageDescription yet: copy IFD0, with the new entry in tag order, to the end.
    count = len(entries) + 1
    ifd_offset = len(buf) + (len(buf) % 2)
    value_offset = ifd_offset + 2 + 12 * count + 4
    raw = value.ljust(4, b"\x00") if len(value) <= 4 else struct.pack(endian + "I", value_offset)
    new_entries = [struct.pack(endian + "HHI", tag, typ, n) + r for tag, (typ, n, r) in entries] + [
        pack_entry(raw)
    ]
    new_entries.sort(key=lambda e: struct.unpack(endian + "H", e[:2])[0])
    block = struct.pack(endian + "H", count) + b"".join(new_entries)
    block += struct.pack(endian + "I", next_ifd)
    if append(block) != ifd_offset:
        raise AssertionError("IFD0 copy landed at an unexpected offset")
    if len(value) > 4 and append(value) != value_offset:
        raise AssertionError("ImageDescription landed at an unexpected offset")
    buf[4:8] = struct.pack(endian + "I", ifd_offset)
    return bytes(buf)


def new_block(text: str) -> bytes:
    """Return a fresh little TIFF block holding only ``ImageDescription`` (made by piexif)."""
    dumped: bytes = piexif.dump({"0th": {IMAGE_DESCRIPTION: text.encode("utf-8")}})
    return dumped[len(b"Exif\x00\x00") :]


def all_entries(tiff: bytes) -> dict[str, dict[int, tuple[Entry, bytes]]]:
    """Return every entry of IFD0, IFD1, Exif, GPS and Interop with its value bytes.

    The EXIF thumbnail's bytes are included under the pseudo-tag 0x10000 of IFD1.
    """
    endian, ifd0 = _header(tiff)
    out: dict[str, dict[int, tuple[Entry, bytes]]] = {}
    pending = [("0th", ifd0)]
    seen: set[int] = set()
    while pending:
        name, offset = pending.pop()
        if offset in seen:
            raise ExifError(f"IFD loop at offset {offset}")
        seen.add(offset)
        entries, next_ifd = _read_ifd(tiff, offset, endian)
        table = {tag: (entry, _value(tiff, endian, entry)) for tag, entry in entries}
        out[name] = table
        for tag, sub in ((_EXIF_IFD, "Exif"), (_GPS_IFD, "GPS"), (_INTEROP_IFD, "Interop")):
            if tag in table:
                pending.append((sub, struct.unpack(endian + "I", table[tag][0][2])[0]))
        if name == "0th" and next_ifd:
            pending.append(("1st", next_ifd))
        if name == "1st" and _THUMB_OFFSET in table and _THUMB_LENGTH in table:
            start = _int(table[_THUMB_OFFSET], endian)
            length = _int(table[_THUMB_LENGTH], endian)
            table[0x10000] = ((0, 0, b""), tiff[start : start + length])
    return out


def _int(item: tuple[Entry, bytes], endian: str) -> int:
    """Return a SHORT or LONG entry's integer value."""
    (typ, _, _), value = item
    (number,) = struct.unpack(endian + ("H" if typ == 3 else "I"), value[: 2 if typ == 3 else 4])
    return int(number)


def load_with_piexif(tiff: bytes) -> dict[str, Any]:
    """Parse a TIFF block with piexif; raise ``ExifError`` if piexif cannot."""
    try:
        loaded: dict[str, Any] = piexif.load(tiff)
    except Exception as exc:  # piexif raises many kinds (struct.error, ValueError, ...)
        raise ExifError(f"piexif cannot parse this EXIF ({type(exc).__name__}: {exc})") from exc
    return loaded


def check_patch(old: bytes | None, new: bytes, text: str) -> None:
    """Raise ``ExifError`` unless ``new`` is ``old`` with only ImageDescription changed."""
    found = read_description(new)
    if found != text:
        raise ExifError(f"ImageDescription reads back as {found!r}")
    after = load_with_piexif(new)
    if old is None:
        return
    before_entries, after_entries = all_entries(old), all_entries(new)
    for table in (before_entries, after_entries):
        table["0th"].pop(IMAGE_DESCRIPTION, None)
    if before_entries != after_entries:
        changed = sorted(
            f"{ifd}:0x{tag:04X}"
            for ifd in set(before_entries) | set(after_entries)
            for tag in set(before_entries.get(ifd, {})) ^ set(after_entries.get(ifd, {}))
            | {
                t
                for t in set(before_entries.get(ifd, {})) & set(after_entries.get(ifd, {}))
                if before_entries[ifd][t] != after_entries[ifd][t]
            }
        )
        raise ExifError(f"EXIF entries other than ImageDescription changed: {changed}")
    before = load_with_piexif(old)
    for d in (before, after):
        d["0th"].pop(IMAGE_DESCRIPTION, None)
    if before != after:
        raise ExifError("piexif reads other EXIF values differently after the patch")


def summary(tiff: bytes) -> list[tuple[str, str]]:
    """Return display lines about an EXIF block: camera, orientation, GPS, maker note, thumbnail."""
    lines: list[tuple[str, str]] = []
    try:
        d = load_with_piexif(tiff)
    except ExifError as exc:
        return [("EXIF", str(exc))]
    lines.append(("EXIF byte order", "little-endian" if tiff[:2] == b"II" else "big-endian"))
    zeroth, exif_ifd = d.get("0th", {}), d.get("Exif", {})
    for name, tag in (("Make", 0x010F), ("Model", 0x0110)):
        if tag in zeroth:
            lines.append((name, _text(zeroth[tag])))
    if 0x0112 in zeroth:
        lines.append(("Orientation", str(zeroth[0x0112])))
    if 0x9003 in exif_ifd:
        lines.append(("DateTimeOriginal", _text(exif_ifd[0x9003])))
    if d.get("GPS"):
        lines.append(("GPS", f"{len(d['GPS'])} tags"))
    if 0x927C in exif_ifd:
        lines.append(("MakerNote", f"{len(exif_ifd[0x927C])} bytes"))
    if d.get("thumbnail"):
        lines.append(("EXIF thumbnail", f"{len(d['thumbnail'])} bytes"))
    count = sum(len(v) for k, v in d.items() if isinstance(v, dict))
    lines.append(("EXIF tags", str(count)))
    return lines


def _text(value: Any) -> str:
    """Return a piexif value as display text."""
    if isinstance(value, bytes):
        return value.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
    return str(value)


XML_PACKET = 0x02BC  # TIFF tag holding XMP in TIFF and DNG files


def read_tag(tiff: bytes, tag: int) -> bytes | None:
    """Return the raw value bytes of one IFD0 tag, or None if absent or unreadable."""
    try:
        endian, ifd0 = _header(tiff)
        entries, _ = _read_ifd(tiff, ifd0, endian)
        for t, entry in entries:
            if t == tag:
                return _value(tiff, endian, entry)
    except ExifError:
        return None
    return None
