"""Progress: a bar on a terminal, plain lines elsewhere; errors always on their own line."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.cli.progress import BarProgress, LineProgress, QuietProgress, open_progress

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
ERROR = "annotator: error:"


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _errors_start_lines(text: str) -> None:
    """Assert every error message begins a line (after a newline, or a terminal's \\r)."""
    assert ERROR in text
    for match in re.finditer(re.escape(ERROR), text):
        before = text[match.start() - 1] if match.start() else "\n"
        assert before in "\n\r", repr(text[max(0, match.start() - 60) : match.end()])


def _folder_with_a_bad_photo(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("camera.jpg", "coffee.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"<html>not a photo</html>")
    return folder


def test_the_right_output_for_the_stream():
    assert isinstance(open_progress(io.StringIO()), LineProgress)
    assert isinstance(open_progress(Terminal()), BarProgress)
    assert isinstance(open_progress(Terminal(), quiet=True), QuietProgress)


def test_plain_lines_at_most_every_interval_and_never_carriage_returns():
    stream, clock = io.StringIO(), Clock()
    progress = LineProgress(stream, interval=5.0, clock=clock)
    for second in range(13):
        clock.now = float(second)
        progress.update(second, 12, 1.0, 12.0 - second)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "captioning: 0 of 12 photos (0%), 1.00 photos/s, 0:12 left",
        "captioning: 5 of 12 photos (41%), 1.00 photos/s, 0:07 left",
        "captioning: 10 of 12 photos (83%), 1.00 photos/s, 0:02 left",
    ]
    assert "\r" not in stream.getvalue()


def test_a_line_is_not_repeated_when_nothing_moved():
    stream, clock = io.StringIO(), Clock()
    progress = LineProgress(stream, interval=5.0, clock=clock)
    progress.update(3, 10, 0.0, None)
    clock.now = 60.0
    progress.update(3, 10, 0.0, None)
    assert stream.getvalue() == "captioning: 3 of 10 photos (30%)\n"


def test_index_into_a_log_writes_whole_lines(tmp_path, tiny_model, capsys):
    folder = _folder_with_a_bad_photo(tmp_path)
    status = main(
        ["--index", str(folder), "--library", str(tmp_path / "lib.sqlite3"), "--model",
         str(tiny_model), "--metadata", "none", "--device", "cpu"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 1  # the broken photo
    assert "\r" not in out + err
    _errors_start_lines(err)
    assert f"{folder / 'broken.jpg'}:" in err
    assert re.search(r"^captioning: \d+ of 3 photos", err, re.MULTILINE)
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == [
        str(folder / "camera.jpg"),
        str(folder / "coffee.jpg"),
    ]


def test_index_on_a_terminal_keeps_the_bar_and_puts_errors_on_their_own_line(
    tmp_path, tiny_model, capsys, monkeypatch
):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    folder = _folder_with_a_bad_photo(tmp_path)
    status = main(
        ["--index", str(folder), "--library", str(tmp_path / "lib.sqlite3"), "--model",
         str(tiny_model), "--metadata", "none", "--device", "cpu"]
    )  # fmt: skip
    text = terminal.getvalue()
    assert status == 1
    assert "captioning:" in text and "\r" in text  # the bar redraws in place
    _errors_start_lines(text)


@pytest.mark.parametrize("stream", [io.StringIO, Terminal])
def test_an_error_that_ends_the_run_starts_its_own_line(stream, tmp_path, monkeypatch):
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    folder = _folder_with_a_bad_photo(tmp_path)
    bad_model = tmp_path / "absent.safetensors"
    status = main(
        ["--index", str(folder), "--library", str(tmp_path / "lib.sqlite3"), "--model",
         str(bad_model), "--metadata", "none", "--device", "cpu"]
    )  # fmt: skip
    assert status != 0
    _errors_start_lines(err.getvalue())
    assert str(bad_model) in err.getvalue()
