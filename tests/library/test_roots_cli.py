"""``annotator roots``: list, pause, resume and remove watched folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.cli import main
from annotator.library import open_library


def test_roots_list_pause_resume_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "lib.sqlite3")
    photos = tmp_path / "photos"
    photos.mkdir()
    with open_library(db) as lib:
        root = lib.add_root(photos)
    assert main(["roots", "--library", db]) == 0
    assert capsys.readouterr().out.startswith(f"{root.id}\t{photos}\tactive\t")
    assert main(["roots", "--library", db, "pause", str(photos)]) == 0
    with open_library(db) as lib:
        assert lib.roots()[0].paused and not lib.roots()[0].auto_paused
    assert main(["roots", "--library", db, "list"]) == 0
    assert "\tpaused\t" in capsys.readouterr().out
    assert main(["roots", "--library", db, "resume", str(root.id)]) == 0
    with open_library(db) as lib:
        assert not lib.roots()[0].paused
    assert main(["roots", "--library", db, "remove", str(root.id)]) == 0
    assert "removed" in capsys.readouterr().out
    with open_library(db) as lib:
        assert lib.roots() == []
    assert main(["roots", "--library", db, "pause", str(tmp_path / "nowhere")]) != 0
