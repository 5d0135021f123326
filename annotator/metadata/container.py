"""Dispatch on the file format: what a photo embeds, and how to rebuild it with new metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from annotator.metadata import exif, iptc, jpeg, png, webp

RAW_SUFFIXES = frozenset(
    {
        *(".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf"),
        *(".fff", ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf"),
        *(".ori", ".pef", ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f"),
    }
)
EMBEDDABLE = frozenset({"jpeg", "png", "webp"})
XMP_LIMITS = {"jpeg": jpeg.MAX_XMP_PACKET}
FORMAT_ERRORS = (
    jpeg.JpegError,
    png.PngError,
    webp.WebpError,
    exif.ExifError,
    ValueError,
    IndexError,
)


def detect(data: bytes, path: Path) -> str:
    """Return "jpeg", "png", "webp", "tiff", "raw", "heif" or "other" (magic bytes, suffix)."""
    if jpeg.is_jpeg(data):
        return "jpeg"
    if png.is_png(data):
        return "png"
    if webp.is_webp(data):
        return "webp"
    if path.suffix.lower() in RAW_SUFFIXES:
        return "raw"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in (
        b"heic",
        b"heix",
        b"mif1",
        b"msf1",
        b"avif",
        b"hevc",
    ):
        return "heif"
    return "other"


@dataclass
class Embedded:
    """The metadata a photo file embeds, raw."""

    exif: bytes | None = None  # a TIFF block
    xmp: bytes | None = None  # a packet
    iptc_caption: str | None = None
    iptc_keywords: list[str] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks
    facts: list[tuple[str, str]] = field(default_factory=list)


def read_embedded(fmt: str, data: bytes) -> Embedded:
    """Return what a file of format ``fmt`` embeds; raise one of FORMAT_ERRORS if unparsable."""
    out = Embedded()
    if fmt == "jpeg":
        segments = jpeg.split(data)
        out.exif, out.xmp = jpeg.read_exif(segments), jpeg.read_xmp(segments)
        out.iptc_caption = iptc.caption(segments)
        out.iptc_keywords = iptc.keywords(segments)
        icc = [s for s in segments if s.is_app(jpeg.APP2, jpeg.ICC_HEADER)]
        if icc:
            out.facts.append(("ICC profile", f"{sum(len(s.payload) for s in icc)} bytes"))
        if n := iptc.dataset_count(segments):
            out.facts.append(("IPTC datasets", str(n)))
        if any(s.is_app(jpeg.APP1, jpeg.XMP_EXTENSION_HEADER) for s in segments):
            out.facts.append(("Extended XMP", "present (kept as it is)"))
        for c in jpeg.comments(segments):
            out.facts.append(("JPEG comment", c.rstrip(b"\x00").decode("utf-8", "replace")))
    elif fmt == "png":
        png_chunks = png.split(data)
        out.xmp, out.text = png.read_xmp(png_chunks), png.text_entries(png_chunks)
        if any(c.type == b"iCCP" for c in png_chunks):
            out.facts.append(("ICC profile", "iCCP chunk"))
        exif_chunk = next((c.data for c in png_chunks if c.type == b"eXIf"), None)
        out.exif = exif_chunk
    elif fmt == "webp":
        webp_chunks = webp.split(data)
        out.exif, out.xmp = webp.read_exif(webp_chunks), webp.read_chunk(webp_chunks, b"XMP ")
        if webp.read_chunk(webp_chunks, b"ICCP") is not None:
            out.facts.append(("ICC profile", "ICCP chunk"))
    elif fmt in ("tiff", "raw") and data[:4] in (b"II*\x00", b"MM\x00*"):
        out.exif = data  # the whole file is a TIFF structure; IFD0 holds the description
        xmp_tag = exif.read_tag(data, exif.XML_PACKET)
        out.xmp = xmp_tag or None
    if out.exif is not None and fmt not in ("tiff", "raw"):
        out.facts[:0] = exif.summary(out.exif)
    if out.xmp is not None:
        out.facts.append(("XMP packet", f"{len(out.xmp)} bytes"))
    return out


def rebuild(fmt: str, data: bytes, *, exif_block: bytes | None, xmp: bytes | None) -> bytes:
    """Return the file with new EXIF and/or XMP (None leaves a part as it is)."""
    if fmt == "jpeg":
        return jpeg.rebuild(data, exif=exif_block, xmp=xmp)
    if fmt == "png":
        if exif_block is not None:
            raise png.PngError("annotator writes no EXIF into PNG")
        return data if xmp is None else png.rebuild(data, xmp=xmp)
    if fmt == "webp":
        return webp.rebuild(data, exif=exif_block, xmp=xmp)
    raise ValueError(f"cannot embed metadata in a {fmt} file")


def preserved_digest(fmt: str, data: bytes) -> str:
    """Hash everything a caption write must leave untouched, compressed image data included."""
    digest: Callable[[bytes], str] = {"jpeg": jpeg, "png": png, "webp": webp}[fmt].preserved_digest
    return digest(data)


def content_digest(data: bytes, path: Path) -> str:
    """Hash what identifies a photo: its image data, not its metadata.

    JPEG: every non-APPn, non-COM segment and the scan data; PNG: the critical
    chunks (IHDR, PLTE, IDAT...); WebP: the image chunks. Writing a caption into a
    photo therefore keeps its identity, so a re-scan neither re-captions it nor
    loses a move. Other formats (and files these parsers refuse) hash every byte.
    """
    import hashlib

    try:
        fmt = detect(data, path)
        if fmt == "jpeg":
            return "j:" + jpeg.image_data_digest(data)
        if fmt == "png":
            h = hashlib.sha256()
            for pc in png.split(data):
                if pc.type[:1].isupper():  # critical chunk: image data, not metadata
                    h.update(pc.raw)
            return "p:" + h.hexdigest()
        if fmt == "webp":
            h = hashlib.sha256()
            for wc in webp.split(data):
                if wc.fourcc not in (b"VP8X", b"EXIF", b"XMP "):  # metadata and its flags
                    h.update(wc.fourcc + wc.payload)
            return "w:" + h.hexdigest()
    except FORMAT_ERRORS:
        pass
    return "f:" + hashlib.sha256(data).hexdigest()
