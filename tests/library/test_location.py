"""Place the library: default location, never in a watched folder, SQLite settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from annotator.core.errors import LibraryError
from annotator.library import open_library
from annotator.library.testing import upsert_photo


def test_default_location_is_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    with open_library() as lib:
        assert lib.path == (tmp_path / "data" / "library.sqlite3").resolve()
    assert lib.path.exists()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with open_library(tmp_path / "lib.sqlite3") as lib, lib.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_refuses_to_watch_the_folder_holding_the_library(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "inner").mkdir(parents=True)
    with open_library(photos / "inner" / "lib.sqlite3") as lib:
        with pytest.raises(LibraryError, match="inside this folder"):
            lib.add_root(photos)
        with pytest.raises(LibraryError, match="inside this folder"):
            lib.add_root(photos / "inner")
        assert lib.roots() == []


def test_refuses_a_library_that_ended_up_in_a_watched_folder(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    with open_library(tmp_path / "lib.sqlite3") as lib:
        lib.add_root(photos)
    assert not (tmp_path / "lib.sqlite3-wal").exists()  # checkpointed on close
    (tmp_path / "lib.sqlite3").rename(photos / "lib.sqlite3")
    with pytest.raises(LibraryError, match="inside the watched folder"):
        open_library(photos / "lib.sqlite3")


def test_bad_locations(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no library here"):
        open_library(tmp_path / "absent.sqlite3", create=False)
    with pytest.raises(LibraryError, match="is a folder"):
        open_library(tmp_path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"\xff\xd8\xff\xe0 this is a JPEG, not a database" * 100)
    with pytest.raises(LibraryError, match="cannot open"):
        open_library(junk)
    with pytest.raises(LibraryError, match="unsupported"):
        open_library("mysql://user@localhost/db")


def test_in_memory_library_works(tmp_path: Path) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    with open_library(":memory:") as lib:
        root = lib.add_root(photos)
        (photos / "a.jpg").write_bytes(b"a")
        assert upsert_photo(lib, root.id, photos / "a.jpg", "h", 1, 1.0).status == "new"
        assert lib.path is None and lib.location == "sqlite://"
