"""``annotator install-desktop``: add the app to the user's application menu (XDG, Linux).

Installs the shipped ``annotator.desktop`` entry (its ``Exec`` pointing at this
installation) into ``$XDG_DATA_HOME/applications`` and the icon (SVG and PNG sizes)
into the ``hicolor`` theme under ``$XDG_DATA_HOME/icons``. Per user: nothing outside
the user's data directory is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from annotator.core.errors import AnnotatorError
from annotator.core.shipped import SHIPPED_FILES, shipped_file

DESKTOP_ENTRY = "resources/desktop/annotator.desktop"
ICON_PREFIX = "resources/icons/"
# Characters that make an Exec argument need quoting (Desktop Entry Specification).
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``install-desktop`` subcommand."""
    p = sub.add_parser(
        "install-desktop",
        help="add annotator to your application menu (Linux, per user)",
        description="Install annotator's desktop entry and icon for the current user "
        "(XDG locations: $XDG_DATA_HOME, by default ~/.local/share), so the app appears "
        "in the application menu and folders can be dropped on its icon.",
    )
    p.add_argument(
        "--data-home",
        type=Path,
        default=None,
        metavar="DIR",
        help="install under DIR instead of $XDG_DATA_HOME (~/.local/share)",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    p.set_defaults(func=run)


def data_home() -> Path:
    """Return ``$XDG_DATA_HOME`` if it is an absolute path, else ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local/share"


def launcher() -> list[str]:
    """Return the command that starts this installation's app (before ``app %F``)."""
    script = Path(sys.executable).parent / "annotator"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "annotator"]


def exec_quote(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry Specification asks."""
    if arg and not (_RESERVED & set(arg)):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def exec_value(command: list[str]) -> str:
    """Return the Exec value for ``command``, escaped for a desktop file string."""
    line = " ".join(exec_quote(a) for a in command)
    return line.replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    """Return the shipped desktop entry with Exec and TryExec pointing at ``command``."""
    source = shipped_file(DESKTOP_ENTRY)
    if source is None:
        raise AnnotatorError(f"{DESKTOP_ENTRY}: not found in this installation")
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + exec_value([*command, "app", "%F"])
        elif line.startswith("TryExec="):
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def icon_targets(home: Path) -> list[tuple[Path, Path]]:
    """Return (shipped icon, installed path) for every icon file."""
    pairs = []
    for relative in SHIPPED_FILES:
        if not relative.startswith(ICON_PREFIX):
            continue
        source = shipped_file(relative)
        if source is None:
            raise AnnotatorError(f"{relative}: not found in this installation")
        inside = relative.removeprefix(ICON_PREFIX)
        if inside.startswith("hicolor/"):
            target = home / "icons" / inside
        else:  # the SVG
            target = home / "icons/hicolor/scalable/apps" / inside
        pairs.append((source, target))
    return pairs


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def _refresh_caches(home: Path) -> None:
    """Refresh the menu's MIME cache, and an icon cache only where one exists already.

    Desktops notice new files by themselves; a stale icon cache would hide them, and
    creating one where there was none could hide other programs' icons later.
    """
    commands = [["update-desktop-database", "-q", str(home / "applications")]]
    if (home / "icons/hicolor/icon-theme.cache").is_file():
        commands.append(["gtk-update-icon-cache", "-q", "-t", "-f", str(home / "icons/hicolor")])
    for cmd in commands:
        if shutil.which(cmd[0]):
            subprocess.run(cmd, check=False, capture_output=True)


def install_desktop(home: Path, command: list[str]) -> list[Path]:
    """Install the desktop entry and icons under ``home``; return the files written."""
    entry = home / "applications" / "annotator.desktop"
    _write(entry, desktop_entry(command).encode("utf-8"))
    written = [entry]
    for source, target in icon_targets(home):
        _write(target, source.read_bytes())
        written.append(target)
    _refresh_caches(home)
    return written


def uninstall_desktop(home: Path) -> list[Path]:
    """Remove what :func:`install_desktop` wrote under ``home``; return the files removed."""
    removed = []
    for target in [home / "applications" / "annotator.desktop"] + [
        t for _, t in icon_targets(home)
    ]:
        if target.is_file():
            target.unlink()
            removed.append(target)
    _refresh_caches(home)
    return removed


def run(args: argparse.Namespace) -> int:
    """Run ``annotator install-desktop``."""
    if sys.platform in ("win32", "darwin"):
        print("annotator: error: install-desktop is for Linux (XDG) desktops", file=sys.stderr)
        return 2
    home = args.data_home or data_home()
    if args.uninstall:
        removed = uninstall_desktop(home)
        print(f"removed {len(removed)} file(s) under {home}")
        return 0
    written = install_desktop(home, launcher())
    print(f"installed {written[0]}")
    print(f"installed {len(written) - 1} icon file(s) under {home / 'icons/hicolor'}")
    return 0
