"""Fixtures for pipeline tests: folders of small real-looking photos and a library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.library.repository import Library, open_library


def make_photos(
    folder: Path, n: int, *, size: tuple[int, int] = (96, 72), seed: int = 0, prefix: str = "photo"
) -> list[Path]:
    """Write n distinct small JPEGs (random colour blocks) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = np.kron(
            rng.integers(0, 255, (6, 8, 3), dtype=np.uint8),
            np.ones((size[1] // 6, size[0] // 8, 1), dtype=np.uint8),
        )
        p = folder / f"{prefix}{i:03d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """Return a fresh SQLite library outside the photo folders."""
    lib = open_library(tmp_path / "lib" / "library.sqlite3")
    yield lib
    lib.close()
