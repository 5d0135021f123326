"""Write keywords as Lightroom, digiKam and ExifTool expect; keep everybody else's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from annotator.core.types import Keyword
from annotator.metadata import Outcome, Provenance, jpeg, read_metadata, write_caption, xmp

PROV = Provenance(model_version="sat-1", score=-0.8, source="model")
EXIFTOOL = shutil.which("exiftool")
CAT = Keyword("cat", ("Animals", "Mammals", "Cat"), 0.9)
SOFA = Keyword("sofa", (), 0.6)
NS = (
    f'xmlns:x="{xmp.NS_X}" xmlns:rdf="{xmp.NS_RDF}" xmlns:dc="{xmp.NS_DC}" '
    f'xmlns:lr="{xmp.NS_LR}" xmlns:digiKam="{xmp.NS_DIGIKAM}"'
)


def with_xmp(make_jpeg, path: Path, body: str, *, attributes: str = "") -> Path:
    """Return a JPEG whose XMP packet has ``body`` inside its rdf:Description."""
    make_jpeg(path)
    packet = (
        f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="" {attributes}>'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    path.write_bytes(jpeg.rebuild(path.read_bytes(), exif=None, xmp=packet))
    return path


def subjects(path: Path) -> tuple[set[str], set[str]]:
    doc = xmp.parse(read_xmp(path))
    return set(doc.items(f"{{{xmp.NS_DC}}}subject")), set(
        doc.items(f"{{{xmp.NS_LR}}}hierarchicalSubject")
    )


def read_xmp(path: Path) -> bytes:
    packet = jpeg.read_xmp(jpeg.split(path.read_bytes()))
    assert packet is not None
    return packet


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_exiftool_reads_the_keywords(tmp_path: Path, make_jpeg, exiftool_json) -> None:
    photo = make_jpeg(tmp_path / "p.jpg")
    report = write_caption(photo, "a cat on a sofa", provenance=PROV, keywords=[CAT, SOFA])
    assert report.outcome is Outcome.WRITTEN
    assert "XMP-dc:Subject" in report.fields
    tags = exiftool_json(photo, "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject")
    assert tags["XMP-dc:Subject"] == ["Animals", "Mammals", "Cat", "sofa"]
    assert tags["XMP-lr:HierarchicalSubject"] == "Animals|Mammals|Cat"
    # ExifTool can still rewrite the file (the packet is valid XMP to it).
    subprocess.run(
        [EXIFTOOL, "-overwrite_original", "-XMP-dc:Subject+=Holiday", str(photo)], check=True
    )
    assert "Holiday" in exiftool_json(photo, "-XMP-dc:Subject")["XMP-dc:Subject"]


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_a_persons_keywords_survive_every_rewrite(tmp_path: Path, make_jpeg, exiftool_json) -> None:
    photo = make_jpeg(tmp_path / "p.jpg")
    subprocess.run(
        [
            EXIFTOOL,
            "-overwrite_original",
            "-XMP-dc:Subject=Holiday",
            "-XMP-dc:Subject=Places",
            "-XMP-dc:Subject=Paris",
            "-XMP-dc:Subject=cat",
            "-XMP-lr:HierarchicalSubject=Places|Paris",
            str(photo),
        ],
        check=True,
    )
    found = {(k.keyword.word, k.keyword.hierarchy, k.source) for k in read_metadata(photo).keywords}
    assert found == {
        ("Paris", ("Places", "Paris"), "XMP-lr:HierarchicalSubject"),
        ("Holiday", (), "XMP-dc:Subject"),
        ("cat", (), "XMP-dc:Subject"),
        ("keyword", (), "IPTC:Keywords"),
    }
    write_caption(photo, "a cat in Paris", provenance=PROV, keywords=[CAT, SOFA])
    flat, paths = subjects(photo)
    assert {"Holiday", "Places", "Paris", "Animals", "Mammals", "sofa"} <= flat
    assert sum(w.casefold() == "cat" for w in flat) == 1  # merged, ignoring case
    assert paths == {"Places|Paris", "Animals|Mammals|Cat"}
    # The next run has other keywords: annotator's old ones go, the person's stay.
    report = write_caption(
        photo, "a dog in Paris", provenance=PROV, keywords=[Keyword("dog", ("Animals", "Dog"), 0.7)]
    )
    assert report.outcome is Outcome.WRITTEN
    flat, paths = subjects(photo)
    assert flat == {"Holiday", "Places", "Paris", "cat", "Animals", "Dog"}  # "dog" is "Dog"
    assert paths == {"Places|Paris", "Animals|Dog"}
    tags = exiftool_json(photo, "-IPTC:Keywords", "-XMP-lr:HierarchicalSubject")
    assert tags["IPTC:Keywords"] == "keyword"  # IPTC is never written
    assert sorted(tags["XMP-lr:HierarchicalSubject"]) == ["Animals|Dog", "Places|Paris"]
    meta = read_metadata(photo)
    assert set(meta.annotator_keywords) == {"Animals", "Dog"}
    assert "cat" in {k.keyword.word for k in meta.keywords}  # the person's, although
    # annotator wanted it too once: it never became annotator's.
    again = write_caption(
        photo, "a dog in Paris", provenance=PROV, keywords=[Keyword("dog", ("Animals", "Dog"), 0.7)]
    )
    assert again.outcome is Outcome.UNCHANGED


def test_malformed_keyword_lists_are_read_and_kept(
    tmp_path: Path, make_jpeg, exiftool_json
) -> None:
    many = "".join(f"<rdf:li>tag{i}</rdf:li>" for i in range(2000))
    photo = with_xmp(
        make_jpeg,
        tmp_path / "p.jpg",
        "<lr:hierarchicalSubject><rdf:Seq><rdf:li>Places|Rome</rdf:li></rdf:Seq>"
        "</lr:hierarchicalSubject>"
        f"<digiKam:TagsList><rdf:Bag>{many}</rdf:Bag></digiKam:TagsList>"
        "<dc:subject>sunset</dc:subject>",  # a plain string where a Bag belongs
    )
    meta = read_metadata(photo)
    words = {k.keyword.word for k in meta.keywords}
    assert {"Rome", "sunset", "tag0", "tag1999"} <= words
    report = write_caption(photo, "a sunset over Rome", provenance=PROV, keywords=[SOFA])
    assert report.outcome is Outcome.WRITTEN
    doc = xmp.parse(read_xmp(photo))
    assert doc.items(f"{{{xmp.NS_DC}}}subject") == ["sunset", "sofa"]
    assert doc.items(f"{{{xmp.NS_LR}}}hierarchicalSubject") == ["Places|Rome"]
    assert len(doc.items(f"{{{xmp.NS_DIGIKAM}}}TagsList")) == 2000
    assert "<rdf:Seq>" in read_xmp(photo).decode()  # updated in the type it had


def test_keywords_as_an_attribute_are_kept(tmp_path: Path, make_jpeg, exiftool_json) -> None:
    photo = with_xmp(make_jpeg, tmp_path / "p.jpg", "", attributes='dc:subject="beach"')
    assert [
        k.keyword.word for k in read_metadata(photo).keywords if k.source != "IPTC:Keywords"
    ] == ["beach"]
    write_caption(photo, "a beach", provenance=PROV, keywords=[SOFA])
    assert subjects(photo)[0] == {"beach", "sofa"}


def test_non_utf8_iptc_keywords_are_read(tmp_path: Path, make_jpeg, exiftool_json) -> None:
    from tests.metadata.conftest import iptc_segment

    photo = make_jpeg(tmp_path / "p.jpg")
    segments = jpeg.split(photo.read_bytes())
    iptc = next(i for i, s in enumerate(segments) if s.is_app(jpeg.APP13, jpeg.PHOTOSHOP_HEADER))
    old = iptc_segment()
    latin = old.payload.replace(b"\x1c\x01\x5a\x00\x03\x1b%G", b"").replace(
        b"\x00\x07keyword", b"\x00\x05Caf\xe9 "
    )
    segments[iptc] = jpeg.make_segment(jpeg.APP13, latin)
    photo.write_bytes(jpeg.join(segments))
    assert [k.keyword.word for k in read_metadata(photo).keywords] == ["Café"]


def test_sidecar_gets_the_keywords(tmp_path: Path, make_jpeg, exiftool_json) -> None:
    photo = tmp_path / "p.tif"
    photo.write_bytes(b"II*\x00" + b"\x00" * 64)
    report = write_caption(photo, "a cat", provenance=PROV, keywords=[CAT])
    (sidecar,) = report.targets
    doc = xmp.parse(sidecar.read_bytes())
    assert doc.items(f"{{{xmp.NS_LR}}}hierarchicalSubject") == ["Animals|Mammals|Cat"]
    assert read_metadata(photo).annotator_keywords == ("Animals", "Mammals", "Cat")


def test_read_metadata_shows_keywords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_jpeg, exiftool_json
) -> None:
    import json

    from annotator.cli import main

    photo = with_xmp(
        make_jpeg,
        tmp_path / "p.jpg",
        "<lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Rome</rdf:li></rdf:Bag>"
        "</lr:hierarchicalSubject>",
    )
    write_caption(photo, "a cat in Rome", provenance=PROV, keywords=[CAT])
    assert main(["read-metadata", str(photo)]) == 0
    out = capsys.readouterr().out
    assert "Keywords written by annotator: Animals, Mammals, Cat" in out
    assert "Places|Rome (XMP-lr:HierarchicalSubject)" in out
    assert main(["read-metadata", "--json", str(photo)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["annotator_hierarchical_keywords"] == ["Animals|Mammals|Cat"]
    assert {
        "word": "Rome",
        "hierarchy": ["Places", "Rome"],
        "source": "XMP-lr:HierarchicalSubject",
    } in record["keywords"]
