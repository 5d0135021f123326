"""Give library tests fresh databases: SQLite files, and PostgreSQL when a server can start.

The PostgreSQL server (``pg_server``/``pg_url``) comes from the root conftest;
tests marked ``postgres`` are skipped with the reason when it cannot start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from annotator.core.types import CaptionResult
from annotator.library import Library, open_library
from annotator.library.testing import caption_result, complete_job, upsert_photo


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a fresh database location: a SQLite file, or a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "library.sqlite3")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def library(db_url: str) -> Iterator[Library]:
    """Open a fresh library on each backend."""
    lib = open_library(db_url)
    try:
        yield lib
    finally:
        lib.close()


@pytest.fixture
def sqlite_library(tmp_path: Path) -> Iterator[Library]:
    """Open a fresh SQLite library (for SQLite-only behaviour)."""
    lib = open_library(tmp_path / "library.sqlite3")
    try:
        yield lib
    finally:
        lib.close()


@pytest.fixture
def photos_dir(tmp_path: Path) -> Path:
    """Return an empty folder to use as a watched root."""
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


@pytest.fixture
def add_photo(photos_dir: Path) -> Callable[..., int]:
    """Return a helper that writes a file under the root and records it in a library."""
    counter = iter(range(1, 1_000_000))

    def add(
        lib: Library,
        name: str | None = None,
        *,
        content_hash: str | None = None,
        root_id: int | None = None,
    ) -> int:
        n = next(counter)
        name = name or f"photo{n}.jpg"
        path = photos_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"jpeg {n}".encode())
        if root_id is None:
            root_id = lib.add_root(photos_dir).id
        return upsert_photo(
            lib,
            root_id,
            path,
            content_hash or f"hash{n}",
            path.stat().st_size,
            1_700_000_000.0 + n,
            640,
            480,
        ).photo_id

    return add


@pytest.fixture
def caption_photo() -> Callable[..., int]:
    """Return a helper that runs a photo through the queue with a given caption."""

    def caption(
        lib: Library,
        photo_id: int,
        text: str,
        *,
        version: str = "v1",
        grid: int = 9,
        result: CaptionResult | None = None,
    ) -> int:
        lib.enqueue([photo_id])
        jobs = [j for j in lib.claim_jobs(1000) if j.photo_id == photo_id]
        assert len(jobs) == 1, "the photo should have exactly one claimable job"
        res = result or caption_result(text, rng=np.random.default_rng(photo_id), grid=grid)
        return complete_job(lib, jobs[0].job_id, res, version)

    return caption
