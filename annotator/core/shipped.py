"""Find files that ship with annotator: the default model, the desktop entry, the icons.

The repository keeps them where a person edits them (``models/``, ``resources/``).
A wheel carries copies under ``annotator/_shipped/`` with the same relative paths
(``setup.py`` copies them at build time), so one relative path finds the file in an
installed package and in a source checkout (editable install) alike.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHIPPED_DIR = PACKAGE_DIR / "_shipped"
SOURCE_ROOT = PACKAGE_DIR.parent

# Repository-relative paths copied into the wheel (setup.py reads this list).
SHIPPED_FILES: tuple[str, ...] = (
    "models/default.safetensors",
    "resources/desktop/annotator.desktop",
    "resources/icons/annotator.svg",
    "resources/icons/hicolor/16x16/apps/annotator.png",
    "resources/icons/hicolor/24x24/apps/annotator.png",
    "resources/icons/hicolor/32x32/apps/annotator.png",
    "resources/icons/hicolor/48x48/apps/annotator.png",
    "resources/icons/hicolor/64x64/apps/annotator.png",
    "resources/icons/hicolor/128x128/apps/annotator.png",
    "resources/icons/hicolor/256x256/apps/annotator.png",
    "resources/icons/hicolor/512x512/apps/annotator.png",
)


def shipped_candidates(relative: str) -> tuple[Path, Path]:
    """Return where ``relative`` may be: inside the installed package, then in the source tree."""
    return SHIPPED_DIR / relative, SOURCE_ROOT / relative


def shipped_file(relative: str) -> Path | None:
    """Return the shipped file at repository-relative path ``relative``, or None if absent."""
    for candidate in shipped_candidates(relative):
        if candidate.is_file():
            return candidate
    return None
