"""Three indexers and write-metadata on one library, killed at random: nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.pipeline.killtest import check, image_digests, run_kills, write_photos

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_random_kills_of_concurrent_indexers(db_url: str, tmp_path: Path, tiny_model: Path) -> None:
    root = tmp_path / "photos"
    photos = write_photos(root, 16)
    before = image_digests(photos)
    report = run_kills(root, db_url, tiny_model, rounds=6, every=(1.5, 3.0), seed=13, cwd=REPO)
    report = check(report, root, db_url, before)
    assert report.ok, "\n".join([*report.lines(), report.clean_run_stderr])
