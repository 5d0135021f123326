"""The folder watcher: stable-file filter, slow copies, lost roots."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from annotator.watch.watcher import FolderWatcher, StableFiles


def test_stable_files_waits_for_size_and_mtime_to_settle(tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x" * 10)
    s = StableFiles(settle=5.0)
    s.touch(f)
    t = 1000.0
    assert s.ready(t) == []  # first look records size and mtime
    with f.open("ab") as h:
        h.write(b"y" * 10)
    assert s.ready(t + 4) == []  # grew: the clock restarts
    assert s.ready(t + 8.9) == []
    assert s.ready(t + 9.1) == [f]
    assert len(s) == 0


@pytest.mark.parametrize("poll", [False, True])
def test_slow_copy_is_reported_only_after_it_completes(
    tmp_path: Path, poll: bool, make_photos
) -> None:
    root = tmp_path / "watched"
    root.mkdir()
    (src,) = make_photos(tmp_path / "src", 1, size=(640, 480))
    data = src.read_bytes()
    reported: list[tuple[float, list[Path]]] = []
    got = threading.Event()

    def on_files(paths: list[Path]) -> None:
        reported.append((time.monotonic(), paths))
        got.set()

    w = FolderWatcher(
        [root], on_files=on_files, poll=poll, settle=0.6, interval=0.1, poll_interval=0.2
    )
    w.start()
    try:
        dest = root / "incoming.jpg"
        chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
        with dest.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                time.sleep(0.3)  # a slow copy: the file keeps growing
                assert not reported, "reported while the copy was still running"
        finished = time.monotonic()
        assert got.wait(10), "the completed file was never reported"
    finally:
        w.stop()
    (when, paths), *rest = reported
    assert paths == [dest] and not rest
    assert when >= finished and dest.read_bytes() == data


def test_lost_root_is_reported_and_deletions_inside_it_are_not(tmp_path: Path, make_photos) -> None:
    root = tmp_path / "usb"
    make_photos(root, 2)
    lost, deleted = threading.Event(), []
    w = FolderWatcher(
        [root],
        on_files=lambda p: None,
        on_deleted=deleted.extend,
        on_root_lost=lambda r: lost.set(),
        interval=0.1,
    )
    w.start()
    try:
        root.rename(tmp_path / "usb-away")
        assert lost.wait(10)
    finally:
        w.stop()
    assert deleted == []
