"""Run ``annotator read-metadata`` and ``write-metadata`` end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import annotator.library
from annotator.cli import metadata as cli_metadata
from annotator.metadata import Origin, read_metadata
from annotator.metadata.writer import temp_path


def run(argv: list[str]) -> int:
    """Run the metadata subcommands through their own parser (independent of other modules)."""
    import argparse

    parser = argparse.ArgumentParser(prog="annotator")
    cli_metadata.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@dataclass
class Row:
    """A caption row as annotator.library is expected to yield it."""

    path: Path
    text: str
    model_version: str = "sat-1"
    score: float | None = -4.0
    reviewed: bool = False
    source: str = "model"


@pytest.fixture
def fake_library(monkeypatch: pytest.MonkeyPatch):
    """Give annotator.library the two functions write-metadata uses; return the call log."""
    state: dict = {"rows": [], "imported": [], "library_args": []}

    def iter_current_captions(library_path):
        state["library_args"].append(library_path)
        return list(state["rows"])

    def import_human_caption(library_path, path, text, source):
        state["imported"].append((Path(path), text, source))

    monkeypatch.setattr(
        annotator.library, "iter_current_captions", iter_current_captions, raising=False
    )
    monkeypatch.setattr(
        annotator.library, "import_human_caption", import_human_caption, raising=False
    )
    return state


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
    tmp_path: Path, fake_library: dict, capsys: pytest.CaptureFixture[str], make_jpeg
) -> None:
    a = make_jpeg(tmp_path / "a.jpg")
    b = make_jpeg(tmp_path / "b.jpg", description=b"Birthday party 2020")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    c = make_jpeg(elsewhere / "c.jpg")
    fake_library["rows"] = [Row(a, "a dog on a beach"), Row(b, "people at a table"), Row(c, "x")]
    before = {p: p.read_bytes() for p in (a, b, c)}

    assert run(["write-metadata", "--dry-run", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"{a}: would write XMP-dc:Description, EXIF:ImageDescription" in out
    assert "kept human description 'Birthday party 2020'" in out
    assert all(p.read_bytes() == before[p] for p in (a, b, c))
    assert fake_library["imported"] == []

    stale = temp_path(a)
    stale.write_bytes(b"left by a crash")
    assert (
        run(
            [
                "write-metadata",
                "--library",
                str(tmp_path / "lib.db"),
                str(tmp_path / "a.jpg"),
                str(b),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"removed stale temporary file {stale}" in out
    assert read_metadata(a).description == "a dog on a beach"
    assert read_metadata(a).origin is Origin.ANNOTATOR
    assert b.read_bytes() == before[b] and c.read_bytes() == before[c]
    assert fake_library["imported"] == [(b, "Birthday party 2020", "EXIF:ImageDescription")]
    assert Path(fake_library["library_args"][-1]) == tmp_path / "lib.db"
    assert "1 skipped-human, 1 written" in out


def test_write_metadata_sidecar_mode(tmp_path: Path, fake_library: dict, make_jpeg) -> None:
    a = make_jpeg(tmp_path / "a.jpg")
    fake_library["rows"] = [Row(a, "a dog", source="human", reviewed=True)]
    before = a.read_bytes()
    assert run(["write-metadata", "--mode", "sidecar", "--sidecar-style", "replace"]) == 0
    assert a.read_bytes() == before
    meta = read_metadata(a)
    assert meta.sidecars == (tmp_path / "a.xmp",)
    assert meta.provenance.source == "human" and meta.provenance.reviewed


def test_write_metadata_without_library_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(annotator.library, "iter_current_captions", raising=False)
    from annotator.core.errors import AnnotatorError

    with pytest.raises(AnnotatorError, match="iter_current_captions"):
        run(["write-metadata"])
