"""``annotator search-index check|rebuild``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.library import PhotoFile, open_library
from annotator.library.testing import caption_result


def _library_with_a_caption(path: Path, photos: Path) -> None:
    with open_library(path) as library:
        root = library.add_root(photos)
        (result,) = library.upsert_photos(
            root.id, [PhotoFile(photos / "cat.jpg", "h1", 10, 1.0, 32, 24)]
        )
        library.enqueue([result.photo_id])
        (job,) = library.claim_jobs(1)
        library.complete_jobs([(job.job_id, caption_result("a cat on a sofa"), "v1")])


def test_check_finds_an_index_out_of_sync_and_rebuild_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    db = tmp_path / "lib.sqlite3"
    _library_with_a_caption(db, photos)
    assert main(["search-index", "check", "--library", str(db)]) == 0
    with sqlite3.connect(db) as conn:  # change a caption behind the index's back
        conn.execute("DROP TRIGGER captions_au")
        conn.execute("UPDATE captions SET text = 'a dog on a sofa'")
    capsys.readouterr()
    assert main(["search-index", "check", "--library", str(db)]) == 1
    assert "search-index rebuild" in capsys.readouterr().out
    assert main(["search-index", "rebuild", "--library", str(db)]) == 0
    assert main(["search-index", "check", "--library", str(db)]) == 0
    assert main(["search", "dog", "--library", str(db)]) == 0
    assert "cat.jpg" in capsys.readouterr().out


def test_a_library_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    assert main(["search-index", "check", "--library", str(tmp_path / "none.sqlite3")]) == 2
