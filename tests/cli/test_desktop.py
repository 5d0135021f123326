"""`annotator install-desktop` puts the entry and icons in the user's XDG data directory."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from annotator.cli import desktop, main

REPO = Path(__file__).resolve().parents[2]


def _entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


def _exec_argv(value: str) -> list[str]:
    """Undo the desktop-file string escape, then split as the specification's quoting says."""
    return shlex.split(value.replace("\\\\", "\\"))


def test_shipped_entry_opens_folders_dropped_on_the_icon():
    entry = _entry(REPO / "resources/desktop/annotator.desktop")
    assert entry["Type"] == "Application"
    assert entry["Icon"] == "annotator"
    assert _exec_argv(entry["Exec"])[1:] == ["app", "%F"]
    assert "inode/directory" in entry["MimeType"].split(";")


def test_install_writes_entry_and_icons_under_xdg_data_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert main(["install-desktop"]) == 0
    home = tmp_path / "share"
    entry = _entry(home / "applications" / "annotator.desktop")
    argv = _exec_argv(entry["Exec"])
    assert argv[-2:] == ["app", "%F"]
    assert Path(argv[0]).is_file() and os.access(argv[0], os.X_OK)
    assert entry["TryExec"] == argv[0]
    for size in (16, 32, 48, 64, 128, 256):
        png = home / f"icons/hicolor/{size}x{size}/apps/annotator.png"
        with Image.open(png) as image:
            assert image.size == (size, size)
    svg = home / "icons/hicolor/scalable/apps/annotator.svg"
    assert svg.read_bytes() == (REPO / "resources/icons/annotator.svg").read_bytes()
    assert "installed" in capsys.readouterr().out

    assert main(["install-desktop", "--uninstall"]) == 0
    left = [p for p in home.rglob("annotator*") if p.is_file()]
    assert left == []


def test_the_installed_exec_line_starts_this_installation(tmp_path):
    desktop.install_desktop(tmp_path, desktop.launcher())
    argv = _exec_argv(_entry(tmp_path / "applications/annotator.desktop")["Exec"])
    out = subprocess.run(
        [*argv[:-2], "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().startswith("annotator ")


def test_a_launcher_path_with_spaces_and_quotes_survives_the_exec_quoting(tmp_path):
    odd = ['/opt/my apps/bin/python "3"', "-m", "annotator"]
    desktop.install_desktop(tmp_path, odd)
    entry = _entry(tmp_path / "applications/annotator.desktop")
    assert _exec_argv(entry["Exec"]) == [*odd, "app", "%F"]


def test_relative_xdg_data_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert desktop.data_home() == tmp_path / ".local/share"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="no desktop-file-utils")
def test_installed_entry_passes_desktop_file_validate(tmp_path):
    desktop.install_desktop(tmp_path, [sys.executable, "-m", "annotator"])
    result = subprocess.run(
        ["desktop-file-validate", str(tmp_path / "applications/annotator.desktop")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_dash_m_annotator_still_runs_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-m", "annotator", "app", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0
    assert "FOLDER" in out.stdout and "--library" in out.stdout
