"""Load the application icon that ships with annotator (its PNG sizes)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from annotator.core.shipped import SHIPPED_FILES, shipped_file


def application_icon() -> QIcon:
    """Return annotator's icon with every shipped PNG size (null if none is found).

    The PNGs (16 to 512 pixels) cover every size and device pixel ratio a window
    needs; the SVG is for desktop themes.
    """
    icon = QIcon()
    for relative in SHIPPED_FILES:
        if relative.startswith("resources/icons/") and relative.endswith(".png"):
            path = shipped_file(relative)
            if path is not None:
                icon.addFile(str(path))
    return icon
