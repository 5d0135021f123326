"""Read IPTC-IIM ``Caption-Abstract`` and ``Keywords`` from a JPEG's Photoshop APP13 segment.

annotator never writes IPTC (the segment is copied untouched), but a caption a
person left there counts as a human description, and its keywords as human keywords.
"""

from __future__ import annotations

from annotator.metadata.jpeg import APP13, PHOTOSHOP_HEADER, Segment

_IRB_SIGNATURES = (b"8BIM", b"PHUT", b"DCSR", b"AgHg")
IPTC_RESOURCE = 0x0404
CAPTION = (2, 120)
KEYWORDS = (2, 25)
CHARSET = (1, 90)
_UTF8_ESCAPE = b"\x1b%G"


def photoshop_resources(segments: list[Segment]) -> dict[int, bytes]:
    """Return {resource id: data} from the Photoshop APP13 segments (joined when split)."""
    blob = b"".join(
        s.payload[len(PHOTOSHOP_HEADER) :] for s in segments if s.is_app(APP13, PHOTOSHOP_HEADER)
    )
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 12 <= len(blob) and blob[pos : pos + 4] in _IRB_SIGNATURES:
        rid = int.from_bytes(blob[pos + 4 : pos + 6], "big")
        name_len = blob[pos + 6]
        pos += 6 + name_len + 1 + ((name_len + 1) % 2)  # Pascal name padded to even
        size = int.from_bytes(blob[pos : pos + 4], "big")
        pos += 4
        out.setdefault(rid, blob[pos : pos + size])
        pos += size + (size % 2)
    return out


def datasets(record: bytes) -> list[tuple[int, int, bytes]]:
    """Return the (record, dataset, value) triples of an IPTC-IIM block."""
    out = []
    pos = 0
    while pos + 5 <= len(record) and record[pos] == 0x1C:
        rec, num = record[pos + 1], record[pos + 2]
        size = int.from_bytes(record[pos + 3 : pos + 5], "big")
        pos += 5
        if size & 0x8000:  # extended dataset: the low bits give the length of the length
            n = size & 0x7FFF
            size = int.from_bytes(record[pos : pos + n], "big")
            pos += n
        out.append((rec, num, record[pos : pos + size]))
        pos += size
    return out


def _decode(value: bytes, utf8: bool) -> str:
    """Decode a dataset: UTF-8 when it is valid, else as declared (latin-1 by default)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8" if utf8 else "latin-1", "replace")


def caption(segments: list[Segment]) -> str | None:
    """Return IPTC ``Caption-Abstract``, decoded as the block's character set says."""
    record = photoshop_resources(segments).get(IPTC_RESOURCE)
    if not record:
        return None
    items = datasets(record)
    utf8 = any((r, n) == CHARSET and v == _UTF8_ESCAPE for r, n, v in items)
    for r, n, v in items:
        if (r, n) == CAPTION:
            return _decode(v, utf8)
    return None


def keywords(segments: list[Segment]) -> list[str]:
    """Return IPTC ``Keywords`` (one dataset each), decoded like the caption; blanks skipped."""
    record = photoshop_resources(segments).get(IPTC_RESOURCE)
    if not record:
        return []
    items = datasets(record)
    utf8 = any((r, n) == CHARSET and v == _UTF8_ESCAPE for r, n, v in items)
    words = (
        _decode(v, utf8).replace("\x00", "").strip() for r, n, v in items if (r, n) == KEYWORDS
    )
    return [w for w in words if w]


def dataset_count(segments: list[Segment]) -> int:
    """Return how many IPTC datasets the file holds (0 if it has no IPTC)."""
    record = photoshop_resources(segments).get(IPTC_RESOURCE)
    return len(datasets(record)) if record else 0
