"""Write captions into PNG and WebP, and into sidecars for TIFF, RAW and other formats."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from annotator.metadata import (
    Origin,
    Outcome,
    Provenance,
    png,
    read_metadata,
    webp,
    write_caption,
    xmp,
)
from annotator.metadata import exif as exif_mod

PROV = Provenance(model_version="m-2", score=-3.5, reviewed=True, source="model")
CAPTION = "deux chiens jouent dans la neige ❄ 雪"


def pixels(path: Path) -> np.ndarray:
    """Return the decoded pixels of an image."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


# --- PNG -----------------------------------------------------------------------------


@pytest.fixture
def make_png(
    picture: Callable[..., Image.Image], srgb_icc: Callable[[], bytes]
) -> Callable[[Path], Path]:
    """Return ``(path) -> path``: write a PNG with a text chunk, an ICC profile and gamma."""

    def make(path: Path) -> Path:
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "annotator tests")
        picture().save(path, "PNG", pnginfo=info, icc_profile=srgb_icc())
        return path

    return make


def test_png_itxt_round_trip(tmp_path: Path, make_png) -> None:
    path = make_png(tmp_path / "p.png")
    before, before_pixels = path.read_bytes(), pixels(path)
    report = write_caption(path, CAPTION, provenance=PROV)
    assert report.outcome is Outcome.WRITTEN and report.targets == (path,)
    after = path.read_bytes()
    old_chunks = [c.raw for c in png.split(before)]
    new_chunks = png.split(after)
    assert [c.raw for c in new_chunks if not c.is_xmp()] == old_chunks
    xmp_at = next(i for i, c in enumerate(new_chunks) if c.is_xmp())
    assert new_chunks[xmp_at + 1].type == b"IDAT"  # before the image data, as the spec asks
    assert np.array_equal(pixels(path), before_pixels)
    with Image.open(path) as im:
        assert xmp.parse(im.info["XML:com.adobe.xmp"].encode()).description() == CAPTION
    meta = read_metadata(path)
    assert meta.origin is Origin.ANNOTATOR and meta.description == CAPTION
    write_caption(path, "a second caption", provenance=PROV)
    assert sum(c.is_xmp() for c in png.split(path.read_bytes())) == 1


def test_png_read_by_exiftool(tmp_path: Path, exiftool_json, make_png) -> None:
    path = make_png(tmp_path / "p.png")
    write_caption(path, CAPTION, provenance=PROV)
    tags = exiftool_json(path, "-XMP-dc:Description", "-XMP-annotator:all", "-Warning")
    assert tags["XMP-dc:Description"] == CAPTION
    assert tags["XMP-annotator:ModelVersion"] == "m-2"
    assert "ExifTool:Warning" not in tags


def test_png_description_text_is_human(tmp_path: Path, picture) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", "Notre chalet, hiver 2019")
    path = tmp_path / "h.png"
    picture().save(path, "PNG", pnginfo=info)
    report = write_caption(path, "a house", provenance=PROV)
    assert report.outcome is Outcome.SKIPPED_HUMAN
    assert (
        report.human.text == "Notre chalet, hiver 2019" and report.human.source == "PNG:Description"
    )


# --- WebP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["lossy", "lossless-alpha", "with-icc-exif"],
)
def test_webp_embedded(
    tmp_path: Path, kind: str, exiftool_json, picture, rich_exif, srgb_icc
) -> None:
    path = tmp_path / f"{kind}.webp"
    im = picture()
    if kind == "lossy":
        im.save(path, "WEBP", quality=80)
    elif kind == "lossless-alpha":
        im.putalpha(128)
        im.save(path, "WEBP", lossless=True)
    else:
        im.save(path, "WEBP", quality=80, icc_profile=srgb_icc(), exif=rich_exif())
    before = path.read_bytes()
    warnings_before = exiftool_json(path, "-Warning").get("ExifTool:Warning")
    chunks_before = [c.fourcc for c in webp.split(before)]
    before_pixels = pixels(path)
    report = write_caption(path, CAPTION, provenance=PROV)
    assert report.outcome is Outcome.WRITTEN and report.targets == (path,)
    assert "EXIF:ImageDescription" in report.fields
    after = path.read_bytes()
    assert webp.image_data_digest(after) == webp.image_data_digest(before)
    assert webp.canvas_flags(after) == webp.canvas_flags(before)
    assert np.array_equal(pixels(path), before_pixels)
    fourccs = [c.fourcc for c in webp.split(after)]
    assert fourccs[0] == b"VP8X" and fourccs[-2:] == [b"EXIF", b"XMP "]
    assert [f for f in fourccs if f not in (b"VP8X", b"EXIF", b"XMP ")] == [
        f for f in chunks_before if f not in (b"VP8X", b"EXIF", b"XMP ")
    ]
    with Image.open(path) as reread:
        raw = reread.getexif()[0x010E].encode("latin-1")  # Pillow decodes EXIF text as Latin-1
        assert raw.decode("utf-8") == CAPTION
        assert xmp.parse(reread.info["xmp"]).description() == CAPTION
    if kind == "with-icc-exif":
        old_tiff = webp.read_exif(webp.split(before))
        new_tiff = webp.read_exif(webp.split(after))
        old_entries, new_entries = exif_mod.all_entries(old_tiff), exif_mod.all_entries(new_tiff)
        old_entries["0th"].pop(0x010E, None)
        new_entries["0th"].pop(0x010E, None)
        assert old_entries == new_entries
    tags = exiftool_json(path, "-XMP-dc:Description", "-EXIF:ImageDescription", "-Warning")
    assert tags["XMP-dc:Description"] == CAPTION
    assert tags["IFD0:ImageDescription"] == CAPTION
    assert tags.get("ExifTool:Warning") == warnings_before


# --- sidecars ------------------------------------------------------------------------


def test_tiff_gets_sidecar(tmp_path: Path, exiftool_json, picture) -> None:
    path = tmp_path / "scan.tif"
    picture().save(path, "TIFF")
    before = path.read_bytes()
    report = write_caption(path, CAPTION, provenance=PROV)
    sidecar = tmp_path / "scan.tif.xmp"
    assert report.targets == (sidecar,)
    assert any("not tiff" in n for n in report.notes)
    assert path.read_bytes() == before
    meta = read_metadata(path)
    assert meta.origin is Origin.ANNOTATOR and meta.sidecars == (sidecar,)
    tags = exiftool_json(sidecar, "-XMP-dc:Description")
    assert tags["XMP-dc:Description"] == CAPTION


@pytest.mark.parametrize("name", ["IMG_0001.CR2", "DSC_0001.nef", "photo.dng", "photo.heic"])
def test_raw_and_heic_get_sidecars(tmp_path: Path, name: str, picture) -> None:
    path = tmp_path / name
    out = io.BytesIO()
    picture().save(out, "TIFF")  # CR2, NEF and DNG are TIFF-based; good enough to stand in
    path.write_bytes(out.getvalue())
    before = path.read_bytes()
    report = write_caption(path, CAPTION, provenance=PROV, sidecar_style="replace")
    assert report.targets == (path.with_suffix(".xmp"),)
    assert path.read_bytes() == before
    assert read_metadata(path).description == CAPTION


def test_sidecar_mode_for_jpeg_keeps_other_properties(tmp_path: Path, picture) -> None:
    path = tmp_path / "a.jpg"
    picture().save(path, "JPEG")
    before = path.read_bytes()
    sidecar = tmp_path / "a.jpg.xmp"
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/"'
        ' darktable:xmp_version="5"><darktable:history><rdf:Seq>'
        '<rdf:li darktable:operation="exposure"/></rdf:Seq></darktable:history>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    report = write_caption(path, CAPTION, provenance=PROV, mode="sidecar")
    assert report.targets == (sidecar,)
    assert path.read_bytes() == before
    text = sidecar.read_text()
    assert 'darktable:xmp_version="5"' in text and 'darktable:operation="exposure"' in text
    assert xmp.parse(sidecar.read_bytes()).description() == CAPTION


def test_embed_also_updates_existing_sidecar(tmp_path: Path, picture) -> None:
    path = tmp_path / "b.jpg"
    picture().save(path, "JPEG")
    write_caption(path, "first", provenance=PROV, mode="sidecar")
    report = write_caption(path, "second", provenance=PROV)
    assert report.targets == (path, tmp_path / "b.jpg.xmp")
    meta = read_metadata(path)
    assert {e.text for e in meta.descriptions} == {"second"}


def test_lightroom_sidecar_is_read(tmp_path: Path, picture) -> None:
    path = tmp_path / "c.jpg"
    picture().save(path, "JPEG")
    (tmp_path / "c.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Kids at the beach</rdf:li></rdf:Alt>'
        "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    meta = read_metadata(path)
    assert meta.origin is Origin.HUMAN and meta.description == "Kids at the beach"
    assert meta.sidecars == (tmp_path / "c.xmp",)
    report = write_caption(path, "children on sand", provenance=PROV)
    assert report.outcome is Outcome.SKIPPED_HUMAN
    assert report.human.source == "XMP-dc:Description (c.xmp)"


def test_broken_sidecar_is_left_alone(tmp_path: Path, picture) -> None:
    path = tmp_path / "d.tif"
    picture().save(path, "TIFF")
    sidecar = tmp_path / "d.tif.xmp"
    sidecar.write_text("<x:xmpmeta><unclosed>")
    report = write_caption(path, CAPTION, provenance=PROV)
    assert report.outcome is Outcome.DATABASE_ONLY
    assert sidecar.read_text() == "<x:xmpmeta><unclosed>"
    assert any("not valid XMP" in n for n in report.notes)
