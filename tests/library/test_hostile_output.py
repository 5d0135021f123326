"""Captions and names from hostile photos are printed escaped; exclusions need no ``--``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.library import open_library


def test_search_escapes_control_characters_and_accepts_exclusions(
    tmp_path: Path,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "lib.sqlite3")
    with open_library(db) as lib:
        evil = add_photo(lib, "evil\x1b]0;owned\x07.jpg")
        caption_photo(lib, evil, "a dog \x1b[2J on the grass")
        cat = add_photo(lib, "cat.jpg")
        caption_photo(lib, cat, "a dog and a cat")
    assert main(["search", "dog", "--library", db]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;owned\\x07.jpg" in out
    assert main(["search", "dog", "-cat", "--library", db]) == 0
    out = capsys.readouterr().out
    assert "evil" in out and "cat.jpg" not in out
    assert main(["search", "--library", db, "dog", "-cat", "--limit", "5"]) == 0
    assert "cat.jpg" not in capsys.readouterr().out


def test_txt_export_quotes_odd_names_and_never_writes_through_a_planted_link(
    tmp_path: Path,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    from annotator.pipeline.export import export_txt

    db = tmp_path / "lib.sqlite3"
    with open_library(db) as lib:
        odd = add_photo(lib, "tab\there\nnewline.jpg")
        caption_photo(lib, odd, "a dog")
        plain = add_photo(lib, "plain.jpg")
        caption_photo(lib, plain, "a cat")
        out = tmp_path / "out"
        out.mkdir()
        victim = tmp_path / "victim.txt"
        victim.write_text("precious")
        (out / ".files.tsv.partial").symlink_to(victim)
        export_txt(lib, out, include_model=True, model=None)
    assert victim.read_text() == "precious"
    with (out / "files.tsv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, dialect="excel-tab"))
    assert rows[0] == ["text_file", "photo"]
    assert sorted(Path(photo).name for _, photo in rows[1:]) == sorted(
        ["tab\there\nnewline.jpg", "plain.jpg"]
    )
