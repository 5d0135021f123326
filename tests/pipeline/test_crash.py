"""A kill -9 in the middle of indexing loses no queued work and captions nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from annotator.library.repository import open_library

REPO = Path(__file__).resolve().parents[2]


def _count(db: Path) -> int:
    with open_library(db, create=False) as lib:
        return sum(1 for _ in lib.iter_current_captions())


def test_sigkill_mid_run_then_restart_captions_every_photo_exactly_once(
    tmp_path: Path, tiny_model: Path, make_photos
) -> None:
    root = tmp_path / "photos"
    photos = make_photos(root, 40, size=(320, 240))
    db = tmp_path / "lib.sqlite3"
    cmd = [
        sys.executable,
        "-m",
        "annotator",
        "--index",
        str(root),
        "--library",
        str(db),
        "--model",
        str(tiny_model),
        "--device",
        "cpu",
        "--batch-size",
        "4",
        "--metadata",
        "embed",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and _count(db) >= 8:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the indexer finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 8 <= _count(db) < 40
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open_library(db, create=False) as lib:
        for p in photos:
            photo = lib.photo_by_path(p)
            assert photo.state.value == "captioned"
            assert len(lib.caption_history(photo.id)) == 1, f"{p} captioned twice"
        counts = lib.queue_counts()
        assert sum(counts.values()) == 0 and not lib.failures()
    from PIL import Image

    for p in photos:  # no photo is corrupted, and the caption is in each
        with Image.open(p) as im:
            im.load()
    from annotator.metadata import read_metadata

    assert all(read_metadata(p).description for p in photos)
