"""``annotator index``: headless indexing, and ``--watch`` on the shared index service."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from annotator.cli import main
from annotator.library import open_library

REPO = Path(__file__).resolve().parents[2]


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


def _wait_line(lines: queue.Queue[str], needle: str, timeout: float = 120.0) -> str:
    """Return the first line containing ``needle``; fail after ``timeout`` seconds."""
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line with {needle!r}; got {seen}") from None
        seen.append(line)
        if needle in line:
            return line


def test_index_then_failures_lists_the_bad_photo(
    tmp_path: Path, tiny_model: Path, capsys, make_photos
) -> None:
    root = tmp_path / "photos"
    make_photos(root, 2)
    (root / "bad.jpg").write_bytes(b"not a photo")
    lib = str(tmp_path / "lib.sqlite3")
    common = ["--library", lib]
    model = ["--model", str(tiny_model), "--device", "cpu", "--metadata", "none"]
    code = main(["index", str(root), *common, *model, "--quiet"])
    assert code == 1  # one photo failed
    err = capsys.readouterr().err
    assert "captioned 2, skipped 0, failed 1" in err
    assert main(["failures", *common]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{root / 'bad.jpg'}\t")


def test_watch_captions_new_photos_until_ctrl_c(
    tmp_path: Path, tiny_model: Path, make_photos
) -> None:
    root = tmp_path / "photos"
    make_photos(root, 2)
    lib = tmp_path / "lib.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANNOTATOR_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "annotator", "index", str(root), "--watch", "--poll"]
    cmd += ["--library", str(lib), "--model", str(tiny_model), "--device", "cpu"]
    cmd += ["--metadata", "none", "--workers", "1"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    for stream, q in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, q), daemon=True).start()
    try:
        _wait_line(err, "watching 1 folder(s)")
        _wait_line(out, "photo001.jpg")
        (new,) = make_photos(root, 1, seed=9, prefix="later")
        _wait_line(out, new.name)
        proc.send_signal(signal.SIGINT)
        summary = _wait_line(err, "captioned 3, skipped 0, failed 0")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopped early" in summary
    with open_library(lib, create=False) as library:
        assert sum(1 for _ in library.iter_current_captions()) == 3


def test_index_prints_each_photos_keywords(tmp_path: Path, capsys) -> None:
    """The shipped model's keywords reach the output line, after the caption."""
    root = tmp_path / "photos"
    root.mkdir()
    (root / "chelsea.jpg").write_bytes((REPO / "resources/samples/chelsea.jpg").read_bytes())
    lib = str(tmp_path / "lib.sqlite3")
    code = main(["index", str(root), "--library", lib, "--metadata", "none", "--device", "cpu"])
    assert code == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "chelsea.jpg" in x]
    path, caption, keywords = line.split("\t")[:3]
    assert path == str(root / "chelsea.jpg")
    assert "cat" in caption.split()
    assert keywords.startswith("[") and "cat" in keywords.strip("[]").split(", ")
