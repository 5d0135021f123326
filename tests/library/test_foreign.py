"""Annotator never adds its tables to another application's database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from annotator.core.errors import LibraryError
from annotator.library import open_library


def test_an_unrelated_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "some-other-app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(LibraryError, match=r"not an annotator library.*notes"):
        open_library(other)
    assert other.read_bytes() == before
    assert not (tmp_path / "some-other-app.db-wal").exists()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    with pytest.raises(LibraryError, match="not a SQLite database"):
        open_library(photo)
    assert photo.read_bytes() == b"\xff\xd8\xff\xe0 not a database"


def test_empty_new_and_existing_libraries_open(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    open_library(empty).close()
    open_library(empty).close()  # now an annotator library: opens again
    open_library(tmp_path / "new.db").close()


@pytest.mark.postgres
def test_a_postgresql_database_of_another_application_is_refused(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id integer primary key)"))
    engine.dispose()
    with pytest.raises(LibraryError, match=r"not an annotator library.*orders"):
        open_library(pg_url)
