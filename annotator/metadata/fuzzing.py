"""Mutate real photos and check the metadata code's invariants (for fuzz tests).

Used by ``tests/metadata/test_fuzz.py`` (a bounded Hypothesis run in CI) and
``benchmarks/fuzz.py`` (a long run). The mutations are the ones hostile or
broken files show: bit flips, truncation, length fields set to 0 or to their
maximum, duplicated and reordered segments or chunks, huge XMP packets, and
invalid UTF-8 inside XMP. The invariants:

- the parsers raise nothing but annotator's own format errors;
- ``write_caption`` raises nothing but :class:`MetadataWriteError`, leaves a file
  it refuses byte-identical, and a photo it writes keeps every byte of image data
  and still decodes as it did.

Hypothesis is imported only by :func:`mutation_strategy` (a test dependency).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from annotator.core.errors import MetadataReadError, MetadataWriteError
from annotator.metadata import container, exif, jpeg, png, webp, xmp
from annotator.metadata.exif import ExifError
from annotator.metadata.reader import read_metadata
from annotator.metadata.types import Outcome, Provenance

OWN_FORMAT_ERRORS = (jpeg.JpegError, png.PngError, webp.WebpError, ExifError, xmp.XmpError)
HUGE_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
    b'<rdf:li xml:lang="x-default">' + b"huge " * 14_000 + b"</rdf:li></rdf:Alt>"
    b"</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)
BAD_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1"


def seed_photos(data_dir: Path) -> dict[str, bytes]:
    """Return the seed files: the real camera JPEGs of ``data_dir`` plus a PNG and a WebP."""
    seeds = {p.name: p.read_bytes() for p in sorted(data_dir.glob("*.jpg"))}
    picture = Image.new("RGB", (48, 32))
    picture.putdata(
        [(x * 5 % 256, y * 7 % 256, (x * y) % 256) for y in range(32) for x in range(48)]
    )
    for fmt, name in (("PNG", "seed.png"), ("WEBP", "seed.webp")):
        out = io.BytesIO()
        extra: dict[str, Any] = {"exif": Image.Exif()} if fmt == "WEBP" else {}
        picture.save(out, fmt, **extra)
        seeds[name] = out.getvalue()
    return seeds


# --- mutations ------------------------------------------------------------------------


def flip_bit(data: bytes, at: int, bit: int) -> bytes:
    """Flip one bit."""
    i = at % len(data)
    return data[:i] + bytes([data[i] ^ (1 << (bit % 8))]) + data[i + 1 :]


def truncate(data: bytes, at: int) -> bytes:
    """Cut the file short."""
    return data[: at % (len(data) + 1)]


def set_length(data: bytes, at: int, width: int, maximum: bool) -> bytes:
    """Overwrite a 2- or 4-byte (length) field with 0 or its maximum value."""
    i = at % max(1, len(data) - width)
    value = (b"\xff" if maximum else b"\x00") * width
    return data[:i] + value + data[i + width :]


def _units(name: str, data: bytes) -> tuple[list[bytes], bytes, bytes] | None:
    """Split a file into its segments/chunks (head and tail kept apart), or None."""
    try:
        if name.endswith(".jpg"):
            segs = jpeg.split(data)
            raw = [jpeg.join([s]) for s in segs]
            return raw[1:-1], raw[0], b"".join(raw[-1:])
        if name.endswith(".png"):
            return [c.raw for c in png.split(data)], data[:8], b""
        if name.endswith(".webp"):
            return [webp.join([c])[12:] for c in webp.split(data)], data[:12], b""
    except (*OWN_FORMAT_ERRORS, AttributeError, IndexError, ValueError):
        return None
    return None


def duplicate_unit(name: str, data: bytes, which: int) -> bytes:
    """Repeat one segment or chunk."""
    parts = _units(name, data)
    if not parts or not parts[0]:
        return data + data[: which % 64]
    units, head, tail = parts
    i = which % len(units)
    return head + b"".join(units[: i + 1] + units[i:]) + tail


def swap_units(name: str, data: bytes, a: int, b: int) -> bytes:
    """Swap two segments or chunks."""
    parts = _units(name, data)
    if not parts or len(parts[0]) < 2:
        return data[::-1][:64] + data[64:]
    units, head, tail = parts
    i, j = a % len(units), b % len(units)
    units[i], units[j] = units[j], units[i]
    return head + b"".join(units) + tail


def insert_bytes(data: bytes, at: int, payload: bytes) -> bytes:
    """Insert ``payload`` (a huge XMP packet, invalid UTF-8) anywhere."""
    i = at % (len(data) + 1)
    return data[:i] + payload + data[i:]


Mutation = Callable[[str, bytes], bytes]


def mutation_strategy() -> Any:
    """Return a Hypothesis strategy of mutations (functions of name and bytes)."""
    from hypothesis import strategies as st

    idx = st.integers(min_value=0, max_value=1 << 24)
    one = st.one_of(
        st.builds(lambda at, bit: lambda n, d: flip_bit(d, at, bit), idx, st.integers(0, 7)),
        st.builds(lambda at: lambda n, d: truncate(d, at), idx),
        st.builds(
            lambda at, w, mx: lambda n, d: set_length(d, at, w, mx),
            idx,
            st.sampled_from([2, 4]),
            st.booleans(),
        ),
        st.builds(lambda w: lambda n, d: duplicate_unit(n, d, w), idx),
        st.builds(lambda a, b: lambda n, d: swap_units(n, d, a, b), idx, idx),
        st.builds(
            lambda at, p: lambda n, d: insert_bytes(d, at, p),
            idx,
            st.sampled_from([HUGE_XMP, BAD_UTF8, b"<x:xmpmeta" + BAD_UTF8, b"\xff\xe1\xff\xff"]),
        ),
    )
    return st.lists(one, min_size=1, max_size=4)


def mutate(name: str, data: bytes, mutations: Sequence[Mutation]) -> bytes:
    """Apply ``mutations`` in order; never return an empty file for a non-truncation."""
    for m in mutations:
        data = m(name, data) or data[:0]
    return data


# --- invariants -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What one fuzzed write did."""

    outcome: str  # a write Outcome value, or "refused"
    photo_changed: bool


def check_parsers(name: str, data: bytes) -> None:
    """Run every parser on ``data``; raise AssertionError on a foreign exception."""
    fmt = container.detect(data, Path(name))
    try:
        if fmt in container.EMBEDDABLE:
            emb = container.read_embedded(fmt, data)
            if emb.xmp is not None:
                xmp.parse(emb.xmp)
            if emb.exif is not None:  # the EXIF patcher on whatever EXIF the file holds
                exif.check_patch(emb.exif, exif.set_description(emb.exif, "a caption"), "a caption")
    except OWN_FORMAT_ERRORS:
        pass
    except Exception as exc:
        raise AssertionError(f"{name}: parser raised {type(exc).__name__}: {exc}") from exc
    try:
        xmp.packet_with_caption(data, "a fuzzed caption", Provenance("fuzz"))
    except xmp.XmpError:
        pass
    except Exception as exc:
        raise AssertionError(f"{name}: XMP editing raised {type(exc).__name__}: {exc}") from exc


def _decoded(data: bytes) -> tuple[int, int, str] | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return (*im.size, im.mode)
    except Exception:  # noqa: BLE001 - any failure means "does not decode"
        return None


def check_write(path: Path, caption: str = "a fuzzed caption", mode: str = "embed") -> Verdict:
    """Write a caption into ``path``; raise AssertionError if an invariant breaks."""
    from annotator.metadata.writer import write_caption

    before = path.read_bytes()
    sidecars = set(path.parent.iterdir())
    try:
        read_metadata(path)
    except MetadataReadError:
        pass
    except Exception as exc:
        raise AssertionError(f"read_metadata raised {type(exc).__name__}: {exc}") from exc
    try:
        report = write_caption(path, caption, provenance=Provenance("fuzz"), mode=mode)  # type: ignore[arg-type]
    except MetadataWriteError:
        after = path.read_bytes()
        assert after == before, f"{path.name}: a refused write changed the file"
        left = set(path.parent.iterdir()) - sidecars
        assert not left, f"{path.name}: a refused write left {sorted(p.name for p in left)}"
        return Verdict("refused", False)
    except Exception as exc:
        raise AssertionError(f"{path.name}: write raised {type(exc).__name__}: {exc}") from exc
    after = path.read_bytes()
    changed = after != before
    if changed:
        assert report.outcome is Outcome.WRITTEN and path in report.targets
        fmt = container.detect(before, path)
        assert container.preserved_digest(fmt, after) == container.preserved_digest(fmt, before), (
            f"{path.name}: image data changed"
        )
        assert _decoded(after) == _decoded(before), f"{path.name}: decodes differently"
    return Verdict(report.outcome.value, changed)
