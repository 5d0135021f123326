"""A top-level --library goes to the command that follows; `annotator app` checks folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.library.repository import open_library


def test_top_level_library_reaches_the_subcommand(tmp_path, capsys):
    library = tmp_path / "demo.sqlite3"
    open_library(library).close()
    assert main(["--library", str(library), "failures", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_top_level_library_is_the_one_opened(tmp_path, capsys):
    missing = tmp_path / "absent.sqlite3"
    status = main(["--library", str(missing), "failures"])
    assert status == 2
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists()


def test_top_level_library_before_index_flag(tmp_path, capsys):
    photos = tmp_path / "empty"
    photos.mkdir()
    library = tmp_path / "lib.sqlite3"
    assert main(["--library", str(library), "--index", str(photos), "--quiet"]) == 0
    with open_library(library, create=False) as lib:
        assert [r.path for r in lib.roots()] == [photos]


def test_library_for_a_command_without_one_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--library", str(tmp_path / "x.sqlite3"), "caption", "photo.jpg"])
    assert exc.value.code == 2
    assert "--library does not apply to `caption`" in capsys.readouterr().err


def test_two_different_libraries_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--library", "a.sqlite3", "failures", "--library", "b.sqlite3"])
    assert "different values" in capsys.readouterr().err


def test_app_refuses_a_folder_that_does_not_exist(tmp_path, capsys, monkeypatch):
    import annotator.gui.app as app_module

    opened: list[object] = []
    monkeypatch.setattr(app_module, "run", lambda **kw: opened.append(kw) or 0)
    assert main(["app", str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: not a folder" in capsys.readouterr().err
    assert opened == []


def test_app_passes_an_absolute_library_and_folders(tmp_path, monkeypatch):
    import annotator.gui.app as app_module

    opened: list[dict] = []
    monkeypatch.setattr(app_module, "run", lambda **kw: opened.append(kw) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    assert main(["--library", "demo.sqlite3"]) == 0
    assert main(["app", "--library", "postgresql://db/lib", "photos"]) == 0
    assert opened == [
        {"library": str(tmp_path / "demo.sqlite3"), "folders": []},
        {"library": "postgresql://db/lib", "folders": [Path(tmp_path / "photos")]},
    ]


def test_verbose_before_index_flag_stays_a_top_level_option(tmp_path, capsys):
    photos = tmp_path / "empty"
    photos.mkdir()
    library = tmp_path / "lib.sqlite3"
    assert main(["-v", "--library", str(library), "--index", str(photos), "--quiet"]) == 0
    assert "captioned 0" in capsys.readouterr().err
