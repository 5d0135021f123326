"""Fixtures for command tests: a library with keywords, a captioner that names keywords."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from annotator.core.types import CaptionResult, Keyword
from annotator.library import open_library
from annotator.library.testing import caption_result, complete_job, upsert_photo

CAT = Keyword("cat", ("Animals", "Mammals", "Cat"), 0.93)
ROCKET = Keyword("rocket", ("Vehicles", "Spacecraft", "Rocket"), 0.71)


@pytest.fixture
def keyword_library(tmp_path: Path) -> Path:
    """Return a SQLite library with captioned photos, some with model keywords."""
    photos = tmp_path / "photos"
    photos.mkdir()
    location = tmp_path / "lib" / "library.sqlite3"
    rows = [
        ("cat.jpg", "a man is wearing a blue shirt", (CAT,)),
        ("man.jpg", "a man climbs a rock", ()),
        ("person.jpg", "a person on a bench", ()),
        ("launch.jpg", "a black and white dog is looking at the camera", (ROCKET,)),
    ]
    with open_library(location) as library:
        root = library.add_root(photos)
        for i, (name, text, keywords) in enumerate(rows):
            (photos / name).write_bytes(b"jpeg")
            pid = upsert_photo(library, root.id, photos / name, f"h{i}", 4, 1.0 + i, 8, 8).photo_id
            library.enqueue([pid])
            (job,) = [j for j in library.claim_jobs(10) if j.photo_id == pid]
            result = caption_result(text, rng=np.random.default_rng(i), keywords=keywords)
            complete_job(library, job.job_id, result, "v1")
    return location


class KeywordCaptioner:
    """A captioner whose every photo is a cat (the shape of the real one's results)."""

    def caption_files(self, paths: Sequence[Path], **_: object) -> list[CaptionResult]:
        return [caption_result("a cat sits on a sofa", keywords=(CAT,)) for _ in paths]


@pytest.fixture
def keyword_captioner(monkeypatch: pytest.MonkeyPatch) -> KeywordCaptioner:
    """Make ``Captioner.load`` return a :class:`KeywordCaptioner`."""
    from annotator.model.captioner import Captioner

    fake = KeywordCaptioner()
    monkeypatch.setattr(Captioner, "load", classmethod(lambda cls, *a, **k: fake))
    return fake
