"""The documented systemd user unit starts the watcher, logs whole lines and stops cleanly."""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from annotator.cli import build_parser
from annotator.cli.index import rewrite_index_flag

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "docs" / "systemd" / "annotator-index.service"
SAMPLES = REPO / "resources" / "samples"


def _service(unit: Path) -> dict[str, list[str]]:
    """Return the [Service] section's keys with all their values (keys may repeat)."""
    section, values = "", {}
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def _exec_start(home: Path) -> list[str]:
    (value,) = _service(UNIT)["ExecStart"]
    return shlex.split(value.replace("%h", str(home)))


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _wait_line(lines: queue.Queue[str], needle: str, log: list[str], timeout: float = 120) -> str:
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line with {needle!r} in {log}") from None
        log.append(line)
        if needle in line:
            return line


def test_the_unit_runs_annotator_index_watch_on_pictures(tmp_path):
    argv = _exec_start(tmp_path)
    assert Path(argv[0]).name == "annotator"
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    args = parser.parse_args(rewrite_index_flag(argv[1:], commands))
    assert args.command == "index" and args.watch
    assert [*args.paths, *args.index_paths] == [tmp_path / "Pictures"]
    service = _service(UNIT)
    assert service["KillSignal"] == ["SIGINT"]  # stop = Ctrl-C: finish the batch
    assert "PYTHONUNBUFFERED=1" in service["Environment"]


def test_the_units_command_logs_whole_lines_and_stops_cleanly_on_its_kill_signal(
    tmp_path, tiny_model
):
    home = tmp_path / "home"
    pictures = home / "Pictures"
    pictures.mkdir(parents=True)
    shutil.copy(SAMPLES / "camera.jpg", pictures / "camera.jpg")
    service = _service(UNIT)
    env = dict(os.environ, HOME=str(home), PYTHONPATH=str(REPO))
    env.update(dict(e.split("=", 1) for e in service["Environment"]))
    env.update(ANNOTATOR_DATA_DIR=str(home / "data"), ANNOTATOR_MODEL=str(tiny_model))
    env.pop("ANNOTATOR_CACHE_DIR", None)
    argv = _exec_start(home)
    cmd = [sys.executable, "-m", "annotator", *argv[1:], "--device", "cpu", "--poll"]
    # Like the journal: stdout and stderr into one pipe, not a terminal.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    log: list[str] = []
    try:
        _wait_line(lines, "watching 1 folder(s)", log)
        _wait_line(lines, "camera.jpg\t", log)
        shutil.copy(SAMPLES / "coffee.jpg", pictures / "coffee.jpg")  # a new photo arrives
        _wait_line(lines, "coffee.jpg\t", log)
        proc.send_signal(getattr(signal, service["KillSignal"][0]))  # systemctl --user stop
        summary = _wait_line(lines, "captioned 2,", log)
        assert proc.wait(float(service["TimeoutStopSec"][0])) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "failed 0" in summary
    text = "".join(log)
    assert "\r" not in text
    assert all(line.endswith("\n") for line in log)


def _user_systemd() -> bool:
    if shutil.which("systemd-run") is None:
        return False
    probe = subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True)
    return probe.returncode == 0 or b"degraded" in probe.stdout


@pytest.mark.skipif(not _user_systemd(), reason="no systemd user instance (systemd-run --user)")
def test_systemd_run_user_starts_and_stops_the_unit(tmp_path, tiny_model):
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    shutil.copy(SAMPLES / "camera.jpg", home / "Pictures" / "camera.jpg")
    service = _service(UNIT)
    unit = f"annotator-test-{os.getpid()}"
    argv = _exec_start(home)
    cmd = ["systemd-run", "--user", f"--unit={unit}", "--collect"]
    cmd += [f"--property={k}={v}" for k in ("KillSignal", "TimeoutStopSec") for v in service[k]]
    cmd += [f"--setenv={e}" for e in service["Environment"]]
    cmd += [f"--setenv=PYTHONPATH={REPO}", f"--setenv=ANNOTATOR_MODEL={tiny_model}"]
    cmd += [f"--setenv=ANNOTATOR_DATA_DIR={home / 'data'}"]
    cmd += [sys.executable, "-m", "annotator", *argv[1:], "--device", "cpu", "--poll"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            ["systemctl", "--user", "is-active", "--wait", unit], capture_output=True, timeout=60
        )
    finally:
        stop = subprocess.run(
            ["systemctl", "--user", "stop", unit], capture_output=True, text=True, timeout=180
        )
    assert stop.returncode == 0, stop.stderr
    result = subprocess.run(
        ["systemctl", "--user", "show", unit, "--property=Result"], capture_output=True, text=True
    )
    assert result.stdout.strip() in ("Result=success", "")
