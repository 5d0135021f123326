"""Fixtures for pipeline tests: a library (photos come from the root conftest's make_photos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.library.repository import Library, open_library


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """Return a fresh SQLite library outside the photo folders."""
    lib = open_library(tmp_path / "lib" / "library.sqlite3")
    yield lib
    lib.close()
