"""Fit the main window to its screen: a laptop's 1366x768 as well as large and HiDPI screens.

Sizes are in Qt's device-independent pixels, so a screen at device pixel ratio 2 gets
the same layout drawn twice as sharp.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QWidget

PREFERRED_SIZE = QSize(1480, 900)  # on screens with room for it
# Room left for the window manager's title bar and borders (outside the window's size).
FRAME_ALLOWANCE = QSize(16, 40)


def fit_size(wanted: QSize, available: QSize, minimum: QSize) -> QSize:
    """Return ``wanted`` shrunk to ``available`` (less the frame), never below ``minimum``."""
    room = available - FRAME_ALLOWANCE
    return QSize(
        max(min(wanted.width(), room.width()), minimum.width()),
        max(min(wanted.height(), room.height()), minimum.height()),
    )


def fit_position(frame: QRect, area: QRect) -> QPoint:
    """Return where ``frame`` must move so that it lies inside ``area`` (as far as it fits)."""
    x = min(max(frame.left(), area.left()), max(area.left(), area.right() - frame.width() + 1))
    y = min(max(frame.top(), area.top()), max(area.top(), area.bottom() - frame.height() + 1))
    return QPoint(x, y)


def fit_window(window: QWidget, wanted: QSize | None = None) -> None:
    """Size ``window`` to ``wanted`` (default: its current size) within its screen.

    A new window (``wanted`` given) is centred on the screen; a restored one keeps its
    place, moved back inside the screen if it would stick out (another monitor, a
    smaller resolution than when it was saved).
    """
    screen = window.screen()
    if screen is None:
        return
    area = screen.availableGeometry()
    size = fit_size(wanted or window.size(), area.size(), window.minimumSizeHint())
    window.resize(size)
    if wanted is not None:
        window.move(area.center() - QPoint(size.width() // 2, size.height() // 2))
    else:
        window.move(fit_position(QRect(window.pos(), size), area))
