"""Render annotator.svg into the hicolor PNG sizes (run after editing the SVG).

QT_QPA_PLATFORM=offscreen python resources/icons/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
HERE = Path(__file__).resolve().parent


def render(svg: Path, size: int, out: Path) -> None:
    """Render ``svg`` as a ``size`` x ``size`` transparent PNG at ``out``."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise OSError(f"{out}: cannot write the PNG")


def main() -> int:
    """Write hicolor/NxN/apps/annotator.png for every size."""
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        out = HERE / "hicolor" / f"{size}x{size}" / "apps" / "annotator.png"
        render(HERE / "annotator.svg", size, out)
        print(out)
    return 0 if app is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
