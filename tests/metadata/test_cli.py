"""Run ``annotator read-metadata`` and ``write-metadata`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import metadata as cli_metadata
from annotator.library import open_library
from annotator.library.testing import caption_result, complete_job, upsert_photo
from annotator.metadata import Origin, read_metadata
from annotator.metadata.writer import temp_path


def run(argv: list[str]) -> int:
    """Run the metadata subcommands through their own parser (independent of other modules)."""
    import argparse

    parser = argparse.ArgumentParser(prog="annotator")
    cli_metadata.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def make_library(tmp_path: Path, rows: list[tuple[Path, str]]) -> Path:
    """Return a library of ``tmp_path/photos`` in which each photo of ``rows`` has that caption."""
    location = tmp_path / "lib" / "library.sqlite3"
    with open_library(location) as library:
        root = library.add_root(tmp_path / "photos")
        for path, text in rows:
            pid = upsert_photo(library, root.id, path, f"h-{path}", 1, 1.0, 8, 8).photo_id
            library.enqueue([pid])
            (job,) = [j for j in library.claim_jobs(100) if j.photo_id == pid]
            complete_job(library, job.job_id, caption_result(text), "sat-1")
    return location


def test_read_metadata_text(capsys: pytest.CaptureFixture[str], data_dir) -> None:
    assert run(["read-metadata", str(data_dir / "minolta_dimage_z5.jpg")]) == 0
    out = capsys.readouterr().out
    assert "only camera boilerplate" in out
    assert "EXIF:ImageDescription: 'KONICA MINOLTA DIGITAL CAMERA'  [camera boilerplate]" in out
    assert "Make: KONICA MINOLTA" in out and "MakerNote: 33338 bytes" in out


def test_read_metadata_json_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_jpeg
) -> None:
    photo = make_jpeg(tmp_path / "h.jpg", description=b"Our garden")
    assert run(["read-metadata", "--json", str(photo), str(tmp_path / "nope.jpg")]) == 1
    captured = capsys.readouterr()
    record = json.loads(captured.out.splitlines()[0])
    assert record["origin"] == "human" and record["description"] == "Our garden"
    assert record["facts"]["Make"] == "TestCam"
    assert "nope.jpg" in captured.err


def test_write_metadata_dry_run_then_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_jpeg
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    a = make_jpeg(photos / "a.jpg")
    b = make_jpeg(photos / "b.jpg", description=b"Birthday party 2020")
    elsewhere = photos / "other"
    elsewhere.mkdir()
    c = make_jpeg(elsewhere / "c.jpg")
    lib = make_library(tmp_path, [(a, "a dog on a beach"), (b, "people at a table"), (c, "x")])
    before = {p: p.read_bytes() for p in (a, b, c)}

    assert run(["write-metadata", "--library", str(lib), "--dry-run", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"{a}: would write XMP-dc:Description, EXIF:ImageDescription" in out
    assert "kept human description 'Birthday party 2020'" in out
    assert all(p.read_bytes() == before[p] for p in (a, b, c))
    with open_library(lib) as library:
        assert library.search("birthday") == []

    stale = temp_path(a)
    stale.write_bytes(b"left by a crash")
    assert run(["write-metadata", "--library", str(lib), str(photos / "a.jpg"), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"removed stale temporary file {stale}" in out
    assert read_metadata(a).description == "a dog on a beach"
    assert read_metadata(a).origin is Origin.ANNOTATOR
    assert b.read_bytes() == before[b] and c.read_bytes() == before[c]
    with open_library(lib) as library:
        (hit,) = library.search("birthday")
        assert hit.path == b and hit.source == "human"
    assert "1 skipped-human, 1 written" in out


def test_write_metadata_sidecar_mode(tmp_path: Path, make_jpeg) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    a = make_jpeg(photos / "a.jpg")
    lib = make_library(tmp_path, [(a, "a brown dog")])
    with open_library(lib) as library:
        library.add_human_revision(library.photo_by_path(a).id, "a dog", reviewed=True)
    before = a.read_bytes()
    assert (
        run(
            [
                "write-metadata",
                "--library",
                str(lib),
                "--mode",
                "sidecar",
                "--sidecar-style",
                "replace",
            ]
        )
        == 0
    )
    assert a.read_bytes() == before
    meta = read_metadata(a)
    assert meta.sidecars == (photos / "a.xmp",)
    assert meta.provenance.source == "human" and meta.provenance.reviewed
    assert meta.provenance.score is None


def test_write_metadata_without_a_library(tmp_path: Path) -> None:
    from annotator.core.errors import LibraryError

    with pytest.raises(LibraryError, match="no library here"):
        run(["write-metadata", "--library", str(tmp_path / "none.sqlite3")])
