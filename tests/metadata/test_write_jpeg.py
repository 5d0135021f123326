"""Write captions into JPEGs: real camera files and synthetic EXIF, checked byte by byte."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import piexif
import pytest
from PIL import Image, ImageOps

from annotator.core.errors import MetadataWriteError
from annotator.metadata import (
    Origin,
    Outcome,
    Provenance,
    jpeg,
    read_metadata,
    write_caption,
    xmp,
)
from annotator.metadata import exif as exif_mod
from annotator.metadata.writer import (
    STALE_TEMP_AGE_S,
    TEMP_SUFFIX,
    backup_path,
    cleanup_stale_temp_files,
    temp_path,
)

PROV = Provenance(model_version="sat-flickr8k-1.0", score=-7.25, reviewed=False, source="model")
CAPTIONS = [
    "a dog runs through the grass",
    "Café au lait é à ü ß",
    "一只狗在草地上奔跑",
    "a cat 🐱 on a sofa 🛋️ with emoji",
]


def unchanged_segments(before: bytes, after: bytes) -> None:
    """Assert that only the EXIF and standard XMP APP1 segments differ (and XMP may be new)."""

    def others(data: bytes) -> list[bytes]:
        return [
            s.raw
            for s in jpeg.split(data)
            if not (s.is_app(jpeg.APP1, jpeg.EXIF_HEADER) or s.is_app(jpeg.APP1, jpeg.XMP_HEADER))
        ]

    assert others(before) == others(after)
    scan = lambda d: jpeg.split(d)[-1].raw  # noqa: E731 - the entropy-coded data and trailer
    assert scan(before) == scan(after)


def exif_except_description(data: bytes) -> dict:
    """Return piexif's reading of a JPEG's EXIF without ImageDescription."""
    d = piexif.load(jpeg.read_exif(jpeg.split(data)))
    d["0th"].pop(piexif.ImageIFD.ImageDescription, None)
    return d


def test_real_camera_round_trip(camera_jpeg: Path) -> None:
    before = camera_jpeg.read_bytes()
    report = write_caption(camera_jpeg, "two elephants walk across a dry plain", provenance=PROV)
    after = camera_jpeg.read_bytes()

    assert report.outcome is Outcome.WRITTEN
    assert report.targets == (camera_jpeg,)
    assert "EXIF:ImageDescription" in report.fields
    unchanged_segments(before, after)
    assert exif_except_description(after) == exif_except_description(before)
    old_tiff = jpeg.read_exif(jpeg.split(before))
    new_tiff = jpeg.read_exif(jpeg.split(after))
    assert new_tiff[:2] == old_tiff[:2]  # byte order kept (piexif.dump would force big-endian)
    assert exif_mod.all_entries(new_tiff)["Exif"] == exif_mod.all_entries(old_tiff)["Exif"]
    meta = read_metadata(camera_jpeg)
    assert meta.origin is Origin.ANNOTATOR
    assert {e.source for e in meta.descriptions} == {"XMP-dc:Description", "EXIF:ImageDescription"}
    assert meta.provenance is not None and meta.provenance.same_claim(PROV)
    with Image.open(camera_jpeg) as im:
        im.load()


def test_real_camera_read_by_exiftool(camera_jpeg: Path, exiftool_json) -> None:
    warnings_before = exiftool_json(camera_jpeg, "-Warning").get("ExifTool:Warning")
    write_caption(camera_jpeg, CAPTIONS[2], provenance=PROV)
    tags = exiftool_json(
        camera_jpeg, "-XMP-dc:Description", "-EXIF:ImageDescription", "-MakerNotes:all", "-Warning"
    )
    assert tags["XMP-dc:Description"] == CAPTIONS[2]
    assert tags["IFD0:ImageDescription"] == CAPTIONS[2]
    assert tags.get("ExifTool:Warning") == warnings_before  # no new complaint (maker notes intact)
    assert any(k.split(":")[0] in {"Canon", "Minolta", "Sony"} for k in tags)  # maker notes decode


@pytest.mark.parametrize("caption", CAPTIONS)
def test_non_ascii_captions(synthetic_jpeg: Path, caption: str) -> None:
    write_caption(synthetic_jpeg, caption, provenance=PROV)
    data = synthetic_jpeg.read_bytes()
    tiff = jpeg.read_exif(jpeg.split(data))
    raw = piexif.load(tiff)["0th"][piexif.ImageIFD.ImageDescription]
    assert raw == caption.encode("utf-8")  # UTF-8, as MWG recommends
    assert xmp.parse(jpeg.read_xmp(jpeg.split(data))).description() == caption
    assert read_metadata(synthetic_jpeg).description == caption


@pytest.mark.parametrize("caption", CAPTIONS[1:])
def test_non_ascii_read_by_exiftool(synthetic_jpeg: Path, caption: str, exiftool_json) -> None:
    write_caption(synthetic_jpeg, caption, provenance=PROV)
    tags = exiftool_json(synthetic_jpeg, "-XMP-dc:Description", "-EXIF:ImageDescription")
    assert tags["XMP-dc:Description"] == caption
    assert tags["IFD0:ImageDescription"] == caption


def test_synthetic_keeps_gps_makernote_thumbnail_icc_iptc_comment(
    synthetic_jpeg: Path, makernote
) -> None:
    before = synthetic_jpeg.read_bytes()
    write_caption(synthetic_jpeg, "a red bicycle against a wall", provenance=PROV)
    after = synthetic_jpeg.read_bytes()
    unchanged_segments(before, after)  # ICC (APP2), IPTC (APP13), COM, JFIF untouched
    old, new = exif_except_description(before), exif_except_description(after)
    assert new == old
    assert new["GPS"][piexif.GPSIFD.GPSLatitude] == ((48, 1), (51, 1), (2400, 100))
    assert new["Exif"][piexif.ExifIFD.MakerNote] == makernote
    assert new["thumbnail"] == old["thumbnail"] and new["thumbnail"].startswith(b"\xff\xd8")
    with Image.open(synthetic_jpeg) as im:
        assert im.info["icc_profile"] == Image.open(synthetic_jpeg).info["icc_profile"]
        assert im.info["comment"] == b"a JPEG comment"
    segs = jpeg.split(after)
    assert any(s.is_app(jpeg.APP13, jpeg.PHOTOSHOP_HEADER) for s in segs)
    assert sum(s.is_app(jpeg.APP2, jpeg.ICC_HEADER) for s in segs) == 1


def test_image_data_hash_unchanged(synthetic_jpeg: Path) -> None:
    before = jpeg.image_data_digest(synthetic_jpeg.read_bytes())
    write_caption(synthetic_jpeg, "a boat on a lake", provenance=PROV)
    assert jpeg.image_data_digest(synthetic_jpeg.read_bytes()) == before


def test_verification_failure_keeps_original(
    synthetic_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rebuild = jpeg.rebuild

    def damaging_rebuild(data: bytes, **kw: bytes | None) -> bytes:
        out = bytearray(real_rebuild(data, **kw))
        out[-10] ^= 0xFF  # a bit flip in the compressed image data, as a buggy writer might do
        return bytes(out)

    monkeypatch.setattr(jpeg, "rebuild", damaging_rebuild)
    before = synthetic_jpeg.read_bytes()
    with pytest.raises(MetadataWriteError, match="verification failed"):
        write_caption(synthetic_jpeg, "a boat", provenance=PROV)
    assert synthetic_jpeg.read_bytes() == before
    assert sorted(p.name for p in synthetic_jpeg.parent.iterdir()) == ["synthetic.jpg"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_kept(tmp_path: Path, orientation: int, make_jpeg) -> None:
    path = make_jpeg(tmp_path / f"o{orientation}.jpg", orientation=orientation)
    with Image.open(path) as im:
        shown_before = ImageOps.exif_transpose(im).size
    write_caption(path, f"orientation {orientation}", provenance=PROV)
    tiff = jpeg.read_exif(jpeg.split(path.read_bytes()))
    assert piexif.load(tiff)["0th"][piexif.ImageIFD.Orientation] == orientation
    with Image.open(path) as im:
        assert ImageOps.exif_transpose(im).size == shown_before


def test_file_without_exif_gets_one(tmp_path: Path, make_jpeg) -> None:
    path = make_jpeg(tmp_path / "plain.jpg", with_exif=False)
    before = path.read_bytes()
    assert jpeg.read_exif(jpeg.split(before)) is None
    report = write_caption(path, "a plain photo", provenance=PROV)
    assert "EXIF:ImageDescription" in report.fields
    after = path.read_bytes()
    assert exif_mod.read_description(jpeg.read_exif(jpeg.split(after))) == "a plain photo"
    unchanged_segments(before, after)
    assert jpeg.split(after)[0].is_app(jpeg.APP0, b"JFIF\x00")  # JFIF stays first


def test_xmp_padding_and_in_place_rewrite(synthetic_jpeg: Path) -> None:
    write_caption(synthetic_jpeg, "a long first caption about a dog in a park", provenance=PROV)
    first = synthetic_jpeg.read_bytes()
    packet = jpeg.read_xmp(jpeg.split(first))
    assert packet.startswith(b"<?xpacket begin=")
    assert packet.endswith(b'<?xpacket end="w"?>')
    body_end = packet.rindex(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    padding = packet[body_end : -len(b'<?xpacket end="w"?>')]
    assert len(padding) >= 2048 and set(padding) <= {0x20, 0x0A}
    write_caption(synthetic_jpeg, "a shorter one", provenance=PROV)
    second = synthetic_jpeg.read_bytes()
    assert len(second) == len(first)  # the padding absorbed the change; nothing moved


def test_other_xmp_properties_kept(tmp_path: Path, exiftool_json, make_jpeg) -> None:
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" photoshop:City="Paris"\n'
        '    crs:Exposure2012="+0.35">\n'
        "   <!-- written by a test -->\n"
        "   <dc:subject><rdf:Bag><rdf:li>dog</rdf:li><rdf:li>park</rdf:li></rdf:Bag></dc:subject>\n"
        "   <lr:hierarchicalSubject><rdf:Bag><rdf:li>animals|dog</rdf:li></rdf:Bag>"
        "</lr:hierarchicalSubject>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()
    path = make_jpeg(tmp_path / "lr.jpg")
    data = jpeg.rebuild(path.read_bytes(), exif=None, xmp=packet)
    path.write_bytes(data)
    write_caption(path, "a dog in a park", provenance=PROV)
    new_packet = jpeg.read_xmp(jpeg.split(path.read_bytes())).decode()
    for kept in (
        'photoshop:City="Paris"',
        'crs:Exposure2012="+0.35"',
        "<!-- written by a test -->",
        "<rdf:li>dog</rdf:li><rdf:li>park</rdf:li>",
        "<lr:hierarchicalSubject><rdf:Bag><rdf:li>animals|dog</rdf:li></rdf:Bag>",
        'x:xmptk="Adobe XMP Core 7.0"',
    ):
        assert kept in new_packet
    tags = exiftool_json(path, "-XMP:all")
    assert tags["XMP-photoshop:City"] == "Paris"
    assert tags["XMP-dc:Subject"] == ["dog", "park"]
    assert tags["XMP-dc:Description"] == "a dog in a park"


def test_human_description_not_overwritten(tmp_path: Path, make_jpeg) -> None:
    path = make_jpeg(tmp_path / "h.jpg", description=b"Grandma's house, summer 1998")
    before = path.read_bytes()
    report = write_caption(path, "a house with a garden", provenance=PROV)
    assert report.outcome is Outcome.SKIPPED_HUMAN
    assert report.human is not None
    assert report.human.text == "Grandma's house, summer 1998"
    assert report.human.source == "EXIF:ImageDescription"
    assert path.read_bytes() == before
    forced = write_caption(path, "a house with a garden", provenance=PROV, overwrite_human=True)
    assert forced.outcome is Outcome.WRITTEN
    assert read_metadata(path).description == "a house with a garden"


def test_iptc_caption_counts_as_human(tmp_path: Path, make_jpeg) -> None:
    path = make_jpeg(tmp_path / "iptc.jpg", iptc_caption="Sunset at the harbour, Marseille")
    report = write_caption(path, "a boat", provenance=PROV)
    assert report.outcome is Outcome.SKIPPED_HUMAN
    assert report.human.source == "IPTC:Caption-Abstract"
    assert report.human.text == "Sunset at the harbour, Marseille"
    forced = write_caption(path, "a boat", provenance=PROV, overwrite_human=True)
    assert any("IPTC:Caption-Abstract still holds" in n for n in forced.notes)


@pytest.mark.parametrize("filler", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "   ", "TestCam"])
def test_camera_boilerplate_is_replaced(tmp_path: Path, filler: str, make_jpeg) -> None:
    path = make_jpeg(tmp_path / "b.jpg", description=filler.encode())
    assert read_metadata(path).origin is Origin.BOILERPLATE
    report = write_caption(path, "a field of flowers", provenance=PROV)
    assert report.outcome is Outcome.WRITTEN
    assert read_metadata(path).description == "a field of flowers"


def test_edited_elsewhere_becomes_human(synthetic_jpeg: Path) -> None:
    write_caption(synthetic_jpeg, "a dog", provenance=PROV)
    data = synthetic_jpeg.read_bytes()
    doc = xmp.parse(jpeg.read_xmp(jpeg.split(data)))
    doc._set_x_default(doc.root.find(f".//{{{xmp.NS_DC}}}description"), "Rex, our dog")  # Lightroom
    synthetic_jpeg.write_bytes(jpeg.rebuild(data, exif=None, xmp=doc.serialize(padding=100)))
    meta = read_metadata(synthetic_jpeg)
    assert meta.origin is Origin.HUMAN
    assert meta.description == "Rex, our dog"
    assert write_caption(synthetic_jpeg, "a dog", provenance=PROV).outcome is Outcome.SKIPPED_HUMAN


def test_unchanged_and_dry_run(synthetic_jpeg: Path) -> None:
    before = synthetic_jpeg.read_bytes()
    dry = write_caption(synthetic_jpeg, "a dog", provenance=PROV, dry_run=True)
    assert dry.outcome is Outcome.DRY_RUN
    assert dry.targets == (synthetic_jpeg,)
    assert synthetic_jpeg.read_bytes() == before
    write_caption(synthetic_jpeg, "a dog", provenance=PROV)
    written = synthetic_jpeg.read_bytes()
    assert write_caption(synthetic_jpeg, "a dog", provenance=PROV).outcome is Outcome.UNCHANGED
    assert synthetic_jpeg.read_bytes() == written
    reviewed = Provenance(PROV.model_version, PROV.score, reviewed=True, source="model")
    assert write_caption(synthetic_jpeg, "a dog", provenance=reviewed).outcome is Outcome.WRITTEN
    assert read_metadata(synthetic_jpeg).provenance.reviewed is True


def test_mtime_permissions_and_backup(synthetic_jpeg: Path) -> None:
    synthetic_jpeg.chmod(0o640)
    os.utime(synthetic_jpeg, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    before = synthetic_jpeg.read_bytes()
    report = write_caption(synthetic_jpeg, "a dog", provenance=PROV, backup=True)
    st = synthetic_jpeg.stat()
    assert st.st_mtime_ns == 1_500_000_000_000_000_000
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert report.backup == backup_path(synthetic_jpeg)
    assert report.backup.read_bytes() == before
    write_caption(synthetic_jpeg, "a cat", provenance=PROV, backup=True, keep_mtime=False)
    assert backup_path(synthetic_jpeg).read_bytes() == before  # the first original is kept
    assert synthetic_jpeg.stat().st_mtime > time.time() - 60
    assert not temp_path(synthetic_jpeg).exists()


def test_read_only_file_falls_back_to_sidecar(synthetic_jpeg: Path) -> None:
    synthetic_jpeg.chmod(0o444)
    before = synthetic_jpeg.read_bytes()
    report = write_caption(synthetic_jpeg, "a dog", provenance=PROV)
    assert synthetic_jpeg.read_bytes() == before
    sidecar = synthetic_jpeg.with_name("synthetic.jpg.xmp")
    assert report.outcome is Outcome.WRITTEN and report.targets == (sidecar,)
    assert any("read-only" in n for n in report.notes)
    assert xmp.parse(sidecar.read_bytes()).description() == "a dog"
    assert read_metadata(synthetic_jpeg).origin is Origin.ANNOTATOR
    again = write_caption(synthetic_jpeg, "a dog", provenance=PROV)
    assert again.outcome is Outcome.UNCHANGED


def test_read_only_folder_keeps_caption_in_database(synthetic_jpeg: Path) -> None:
    folder = synthetic_jpeg.parent
    before = synthetic_jpeg.read_bytes()
    folder.chmod(0o555)
    try:
        report = write_caption(synthetic_jpeg, "a dog", provenance=PROV)
    finally:
        folder.chmod(0o755)
    assert report.outcome is Outcome.DATABASE_ONLY
    assert any("read-only" in n for n in report.notes)
    assert synthetic_jpeg.read_bytes() == before
    assert list(folder.iterdir()) == [synthetic_jpeg]


def test_xmp_too_large_for_app1_goes_to_sidecar(tmp_path: Path, make_jpeg) -> None:
    big = "x" * 65200
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
        'syntax-ns#"><rdf:Description rdf:about="" xmlns:t="urn:test:"><t:blob>'
        f"{big}</t:blob></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    path = make_jpeg(tmp_path / "big.jpg")
    path.write_bytes(jpeg.rebuild(path.read_bytes(), exif=None, xmp=packet))
    before = path.read_bytes()
    report = write_caption(path, "a dog", provenance=PROV)
    assert path.read_bytes() == before
    assert report.targets == (path.with_name("big.jpg.xmp"),)
    assert any("65504-byte limit" in n and "sidecar" in n for n in report.notes)
    assert xmp.parse(path.with_name("big.jpg.xmp").read_bytes()).description() == "a dog"


def test_exif_over_64k_writes_xmp_only(tmp_path: Path, make_jpeg, rich_exif) -> None:
    exif = rich_exif(makernote=b"M" * 63000)
    path = make_jpeg(tmp_path / "fat.jpg", exif=exif)
    before_exif = jpeg.read_exif(jpeg.split(path.read_bytes()))
    report = write_caption(path, "a caption " * 300, provenance=PROV)
    assert report.outcome is Outcome.WRITTEN
    assert "EXIF:ImageDescription" not in report.fields
    assert any(n.startswith("EXIF not round-trippable") and "64 KB" in n for n in report.notes)
    assert jpeg.read_exif(jpeg.split(path.read_bytes())) == before_exif


def test_exif_piexif_cannot_read_is_left_alone(tmp_path: Path, make_jpeg) -> None:
    # IFD0 with Make stored as type 99, which piexif refuses to decode.
    tiff = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + b"\x0f\x01\x63\x00\x04\x00\x00\x00ACME"
    tiff += b"\x00\x00\x00\x00"
    path = make_jpeg(tmp_path / "odd.jpg", with_exif=False)
    path.write_bytes(jpeg.rebuild(path.read_bytes(), exif=tiff, xmp=None))
    report = write_caption(path, "a dog", provenance=PROV)
    assert report.outcome is Outcome.WRITTEN
    assert report.fields == ("XMP-dc:Description", "XMP-annotator")
    assert any("piexif cannot parse" in n for n in report.notes)
    assert jpeg.read_exif(jpeg.split(path.read_bytes())) == tiff


def test_preview_after_eoi_is_not_moved(tmp_path: Path, make_jpeg, rich_exif) -> None:
    # Like Minolta: a preview JPEG after EOI, pointed at by an offset from the EXIF header.
    path = make_jpeg(tmp_path / "minolta.jpg")
    preview = b"\xff\xd8\xff\xdb" + b"\x00" * 100 + b"\xff\xd9"
    placeholder = rich_exif(makernote=b"MLT0" + b"\x00" * 12)[6:]
    body = jpeg.rebuild(path.read_bytes(), exif=placeholder, xmp=None)
    segs = jpeg.split(body)
    tiff_at = 2 + sum(len(s.raw) for s in segs[: jpeg.exif_index(segs)]) + 4 + 6
    pointer = (len(body) - tiff_at).to_bytes(4, "big")
    exif = rich_exif(makernote=b"MLT0" + pointer + b"\x00" * 8)[6:]
    assert len(exif) == len(placeholder)
    path.write_bytes(jpeg.rebuild(body, exif=exif, xmp=None) + preview)
    data = path.read_bytes()
    assert jpeg.trailer_reference(data) is not None
    report = write_caption(path, "a forest", provenance=PROV)
    assert path.read_bytes() == data
    assert report.targets == (path.with_name("minolta.jpg.xmp"),)
    assert any("preview image" in n for n in report.notes)


def test_stale_temp_file(synthetic_jpeg: Path) -> None:
    # A temporary file a dead writer left (the old fixed name, or a unique one) blocks
    # nothing, is never renamed over the photo, and is removed by the cleanup.
    legacy = synthetic_jpeg.with_name(synthetic_jpeg.name + TEMP_SUFFIX)
    tmp = temp_path(synthetic_jpeg)
    for planted in (legacy, tmp):
        planted.write_bytes(b"half a photo")
    assert write_caption(synthetic_jpeg, "a dog", provenance=PROV).outcome is Outcome.WRITTEN
    assert read_metadata(synthetic_jpeg).description == "a dog"
    assert legacy.read_bytes() == tmp.read_bytes() == b"half a photo"
    young = cleanup_stale_temp_files(synthetic_jpeg.parent, older_than_s=STALE_TEMP_AGE_S)
    assert young == []
    assert sorted(cleanup_stale_temp_files(synthetic_jpeg.parent)) == sorted([legacy, tmp])
    assert not legacy.exists() and not tmp.exists()


def test_mode_none_and_bad_arguments(synthetic_jpeg: Path) -> None:
    before = synthetic_jpeg.read_bytes()
    report = write_caption(synthetic_jpeg, "a dog", provenance=PROV, mode="none")
    assert report.outcome is Outcome.DATABASE_ONLY and synthetic_jpeg.read_bytes() == before
    with pytest.raises(ValueError):
        write_caption(synthetic_jpeg, "  \x00 ", provenance=PROV)
    with pytest.raises(ValueError):
        write_caption(synthetic_jpeg, "a dog", provenance=PROV, mode="both")  # type: ignore[arg-type]
    with pytest.raises(MetadataWriteError):
        write_caption(synthetic_jpeg.with_name("missing.jpg"), "a dog", provenance=PROV)


def test_corrupt_jpeg_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 10)
    before = path.read_bytes()
    report = write_caption(path, "a dog", provenance=PROV)
    assert path.read_bytes() == before
    assert report.targets == (path.with_name("broken.jpg.xmp"),)
