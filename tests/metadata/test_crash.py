"""Kill a writing process at any moment: the photo must be the old file or the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from annotator.metadata import Origin, cleanup_stale_temp_files, jpeg, read_metadata
from annotator.metadata.writer import PAUSE_ENV

WRITER = (
    "import sys\n"
    "from annotator.metadata import Provenance, write_caption\n"
    "write_caption(sys.argv[1], 'a caption written before a crash', provenance=Provenance('m'))\n"
)


def start_writer(photo: Path, pause: str | None = None) -> subprocess.Popen:
    """Start a process that writes a caption into ``photo``, optionally pausing at a hook."""
    env = dict(os.environ)
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(photo)],
        env=env,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )


def assert_old_or_new(photo: Path, original: bytes) -> str:
    """Assert the photo is the untouched original or a complete new file; say which."""
    data = photo.read_bytes()
    if data == original:
        return "old"
    assert jpeg.image_data_digest(data) == jpeg.image_data_digest(original)
    assert read_metadata(photo).description == "a caption written before a crash"
    with Image.open(photo) as im:
        im.load()
    return "new"


@pytest.mark.parametrize("point", ["mid-write", "before-replace"])
def test_killed_at_pause_point_leaves_original(tmp_path: Path, point: str, make_jpeg) -> None:
    photo = make_jpeg(tmp_path / "photo.jpg")
    original = photo.read_bytes()
    mtime = photo.stat().st_mtime_ns
    proc = start_writer(photo, pause=f"{point}:60")
    try:
        line = proc.stderr.readline().decode()
        assert line.startswith(f"annotator-test-pause {point}"), line
        tmp = Path(line.split(" ", 2)[2].strip())
        assert tmp.parent == tmp_path and tmp.exists()
        assert cleanup_stale_temp_files(tmp_path) == []  # the live writer holds its lock
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert photo.read_bytes() == original
    assert photo.stat().st_mtime_ns == mtime
    assert read_metadata(photo).origin is Origin.NONE
    assert cleanup_stale_temp_files(tmp_path) == [tmp]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]
    finished = start_writer(photo)
    assert finished.wait(timeout=60) == 0, finished.stderr.read().decode()
    assert assert_old_or_new(photo, original) == "new"


@pytest.mark.slow
def test_killed_at_many_moments(tmp_path: Path, make_jpeg) -> None:
    """Kill right after the writer reports each stage (no pause): old or new, never torn."""
    photo = make_jpeg(tmp_path / "photo.jpg")
    original = photo.read_bytes()
    for point in ("mid-write", "before-replace"):
        for _ in range(4):
            proc = start_writer(photo, pause=f"{point}:0")  # report the stage, go on
            try:
                line = proc.stderr.readline().decode()  # the write has reached ``point``
                assert line.startswith(f"annotator-test-pause {point}"), line
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
            assert_old_or_new(photo, original)  # whichever moment the kill hit
            cleanup_stale_temp_files(tmp_path)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]
            photo.write_bytes(original)
