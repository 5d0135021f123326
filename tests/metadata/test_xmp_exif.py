"""Unit checks of the XMP packet editor and the non-intrusive EXIF patcher."""

from __future__ import annotations

import struct
from pathlib import Path

import piexif
import pytest

from annotator.metadata import (
    Provenance,
    exif,
    is_boilerplate,
    jpeg,
    read_metadata,
    write_caption,
    xmp,
)

PROV = Provenance("m", 0.5)


def test_dtd_and_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    with pytest.raises(xmp.XmpError, match="DTD"):
        xmp.parse(bomb)
    external = (
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>'
    )
    with pytest.raises(xmp.XmpError):
        xmp.parse(external)


def test_packet_with_dtd_in_photo_is_not_rewritten(tmp_path: Path, make_jpeg) -> None:
    path = make_jpeg(tmp_path / "dtd.jpg")
    evil = b'<!DOCTYPE x [<!ENTITY a "b">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    path.write_bytes(jpeg.rebuild(path.read_bytes(), exif=None, xmp=evil))
    before = path.read_bytes()
    assert any("DTD" in n for n in read_metadata(path).notes)
    report = write_caption(path, "a dog", provenance=PROV)
    assert path.read_bytes() == before
    assert report.targets == (path.with_name("dtd.jpg.xmp"),)


def test_new_packet_structure_and_prefixes() -> None:
    packet = xmp.packet_with_caption(None, "a <b> & c", PROV, padding=2048)
    text = packet.decode("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert text.endswith('<?xpacket end="w"?>')
    assert "a &lt;b&gt; &amp; c" in text
    assert 'xmlns:dc="http://purl.org/dc/elements/1.1/"' in text
    assert f'xmlns:annotator="{xmp.NS_ANNOTATOR}"' in text
    doc = xmp.parse(packet)
    assert doc.description() == "a <b> & c"
    prov = doc.provenance()
    assert prov.same_claim(PROV) and prov.text_digest == xmp.text_digest("a <b> & c")


def test_other_languages_kept_and_stale_copy_updated() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
        b'-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        b'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">old</rdf:li>'
        b'<rdf:li xml:lang="en-US">old</rdf:li><rdf:li xml:lang="fr-FR">vieux</rdf:li>'
        b"</rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    doc = xmp.parse(xmp.packet_with_caption(packet, "new", PROV))
    assert doc.description_languages() == {"x-default": "new", "en-US": "new", "fr-FR": "vieux"}


def test_size_limit() -> None:
    with pytest.raises(xmp.XmpError, match="limit"):
        xmp.packet_with_caption(None, "x" * 5000, PROV, padding=2048, limit=4000)
    fitted = xmp.packet_with_caption(None, "x" * 1000, PROV, padding=2048, limit=2600)
    assert len(fitted) == 2600  # padding shrank to fit


def test_sidecar_names(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.CR2"
    assert xmp.sidecar_path(photo) == tmp_path / "IMG_1.CR2.xmp"
    assert xmp.sidecar_path(photo, "replace") == tmp_path / "IMG_1.xmp"
    (tmp_path / "IMG_1.xmp").write_text("x")
    (tmp_path / "IMG_1.CR2.xmp").write_text("x")
    assert xmp.existing_sidecars(photo) == [tmp_path / "IMG_1.CR2.xmp", tmp_path / "IMG_1.xmp"]


@pytest.mark.parametrize(
    ("text", "filler"),
    [
        ("OLYMPUS DIGITAL CAMERA", True),
        ("SONY DSC", True),
        ("KONICA MINOLTA DIGITAL CAMERA", True),
        ("EXIF_JPEG_PICTURE", True),
        ("                               ", True),
        ("DSC_0042", True),
        ("Canon EOS 400D DIGITAL", True),
        ("Grandma in the garden", False),
        ("A Sony camera on a desk", False),
    ],
)
def test_boilerplate(text: str, filler: bool) -> None:
    assert is_boilerplate(text, "Canon", "Canon EOS 400D DIGITAL") is filler


def _tiff(endian: str, entries: list[tuple[int, int, int, bytes]], tail: bytes = b"") -> bytes:
    """Build a TIFF block with one IFD of (tag, type, count, 4-byte value) entries."""
    head = (b"II*\x00" if endian == "<" else b"MM\x00*") + struct.pack(endian + "I", 8)
    ifd = struct.pack(endian + "H", len(entries))
    ifd += b"".join(struct.pack(endian + "HHI", t, ty, n) + v for t, ty, n, v in entries)
    return head + ifd + struct.pack(endian + "I", 0) + tail


@pytest.mark.parametrize("endian", ["<", ">"])
def test_patch_moves_nothing(endian: str) -> None:
    make_at = 8 + 2 + 12 * 2 + 4
    block = _tiff(
        endian,
        [
            (0x010F, 2, 8, struct.pack(endian + "I", make_at)),
            (0x0112, 3, 1, struct.pack(endian + "HH", 6, 0)),
        ],
        b"MakerCo\x00",
    )
    grown = exif.set_description(block, "a long description that will not fit anywhere")
    assert grown[: len(block)][8:] == block[8:]  # every old byte after the header is where it was
    assert exif.read_description(grown) == "a long description that will not fit anywhere"
    exif.check_patch(block, grown, "a long description that will not fit anywhere")
    d = piexif.load(grown)
    assert d["0th"][0x010F] == b"MakerCo" and d["0th"][0x0112] == 6
    shorter = exif.set_description(grown, "short one")
    assert len(shorter) == len(grown)  # fits in the old place
    assert exif.read_description(shorter) == "short one"
    tiny = exif.set_description(shorter, "ab")
    assert exif.read_description(tiny) == "ab"  # stored inside the entry itself


def test_check_patch_catches_changes() -> None:
    block = _tiff("<", [(0x0112, 3, 1, struct.pack("<HH", 1, 0))])
    patched = exif.set_description(block, "caption")
    exif.check_patch(block, patched, "caption")
    ifd0 = struct.unpack("<I", patched[4:8])[0]  # IFD0 was copied to the end with the new entry
    tampered = bytearray(patched)
    tampered[ifd0 + 2 + 12 + 8] = 3  # second entry (Orientation) 1 -> 3
    with pytest.raises(exif.ExifError, match="0th:0x0112"):
        exif.check_patch(block, bytes(tampered), "caption")
    with pytest.raises(exif.ExifError, match="reads back"):
        exif.check_patch(block, patched, "another caption")
