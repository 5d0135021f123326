"""The main window fits a 1366x768 laptop, scales to 1920x1080 and HiDPI, keeps its layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QToolBar, QToolButton

from annotator.gui.widgets.window_size import (
    FRAME_ALLOWANCE,
    PREFERRED_SIZE,
    fit_position,
    fit_size,
)

REPO = Path(__file__).resolve().parents[2]
LAPTOP = QSize(1366, 768)
DESKTOP_PANEL = QSize(0, 32)  # a task bar or top bar takes this much of the screen


def _toolbar(window) -> QToolBar:
    return window.findChild(QToolBar, "mainToolbar")


def _toolbar_buttons_shown(window) -> dict[str, bool]:
    tb = _toolbar(window)
    return {
        a.text(): tb.widgetForAction(a).isVisible()
        for a in tb.actions()
        if isinstance(tb.widgetForAction(a), QToolButton)
    }


def _overflow_button(window) -> QToolButton:
    return _toolbar(window).findChild(QToolButton, "qt_toolbar_ext_button")


def test_minimum_size_hint_fits_a_1366x768_laptop(window, qtbot, photo_folder):
    from annotator.gui.models.photos import Roles

    window.add_folders([photo_folder])
    model = window.photos
    qtbot.waitUntil(
        lambda: (
            model.rowCount() == 4
            and all(model.data(model.index(i, 0), Roles.State) == "captioned" for i in range(4))
        ),
        timeout=60_000,
    )
    window.grid.select_row(0)  # the review panel shows a photo, its words and alternatives
    panel = window.panel
    qtbot.waitUntil(lambda: panel.details is not None and panel.details.caption is not None)
    room = LAPTOP - FRAME_ALLOWANCE - DESKTOP_PANEL
    hint = window.minimumSizeHint()
    assert hint.width() <= room.width() and hint.height() <= room.height(), hint


def test_fit_size_shrinks_to_small_screens_and_keeps_the_preferred_size_on_big_ones():
    minimum = QSize(800, 500)
    small = fit_size(PREFERRED_SIZE, LAPTOP, minimum)
    assert small.width() <= LAPTOP.width() - FRAME_ALLOWANCE.width()
    assert small.height() <= LAPTOP.height() - FRAME_ALLOWANCE.height()
    assert fit_size(PREFERRED_SIZE, QSize(1920, 1080), minimum) == PREFERRED_SIZE
    assert fit_size(PREFERRED_SIZE, QSize(640, 480), minimum) == minimum  # never below


def test_a_window_saved_on_a_bigger_screen_is_moved_back_inside():
    area = QRect(0, 0, 1366, 728)
    assert fit_position(QRect(2000, 900, 1200, 700), area) == QPoint(166, 28)
    assert fit_position(QRect(10, 20, 800, 600), area) == QPoint(10, 20)  # fits: stays


def test_toolbar_overflows_into_a_menu_when_narrow(qtbot, window):
    from PySide6.QtGui import QUndoGroup
    from PySide6.QtWidgets import QMainWindow

    from annotator.gui.widgets.main_actions import (
        MainActions,
        build_search_box,
        build_toolbar,
        build_zoom_slider,
    )

    # The real window (on the test's small screen): every button shown, or the » button.
    qtbot.waitUntil(
        lambda: all(_toolbar_buttons_shown(window).values()) or _overflow_button(window).isVisible()
    )
    narrow = QMainWindow()
    qtbot.addWidget(narrow)
    actions = MainActions(narrow, QUndoGroup(narrow), 5)
    tb = build_toolbar(narrow, actions, build_search_box(narrow), build_zoom_slider(160))
    narrow.addToolBar(tb)
    narrow.resize(420, 300)
    narrow.show()
    settings = tb.widgetForAction(actions.settings)
    qtbot.waitUntil(lambda: _overflow_button(narrow).isVisible())
    assert not settings.isVisible()  # cut off ...
    qtbot.mouseClick(_overflow_button(narrow), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(settings.isVisible)  # ... but one click on » shows it


PROBE = """
import json, sys, tempfile
from pathlib import Path
from PySide6.QtWidgets import QApplication, QToolBar, QToolButton
app = QApplication(sys.argv[:1])
from annotator.gui.app import setup_application
from annotator.core.settings import Settings
from annotator.gui.widgets.main_window import MainWindow
from annotator.library import open_library
setup_application(app)
work = Path(tempfile.mkdtemp())
library = open_library(work / "library.sqlite3")
from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
store = QSettings(str(work / "layout.ini"), QSettings.Format.IniFormat)

def open_window():
    w = MainWindow(library, Settings(watch=False, metadata="none"), store=store,
                   thumbnail_cache=work / "thumbs")
    w.show()
    QTest.qWaitForWindowExposed(w)
    return w

first = open_window()
wanted = [s + d for s, d in zip(first.splitter.sizes(), (60, -100, 40))]
first.splitter.setSizes(wanted)
saved = first.splitter.sizes()
first.shutdown(5)
first.close()
window = open_window()  # a second run of the app: the same layout
tb = window.findChild(QToolBar, "mainToolbar")
area = window.screen().availableGeometry()
buttons = {a.text(): tb.widgetForAction(a) for a in tb.actions()}
hidden = [t for t, b in buttons.items() if isinstance(b, QToolButton) and not b.isVisible()]
print(json.dumps({
    "area": [area.width(), area.height()],
    "window": [window.width(), window.height()],
    "frame": window.frameGeometry().getRect(),
    "dpr": window.devicePixelRatioF(),
    "hidden": hidden,
    "splitter": [saved, window.splitter.sizes()],
}))
window.shutdown(5)
library.close()
"""


@pytest.mark.parametrize(
    ("screen", "scale"),
    [((1366, 768), 1), ((1920, 1080), 1), ((2732, 1536), 2)],
    ids=["1366x768", "1920x1080", "1366x768-at-dpr2"],
)
def test_the_window_fits_real_screen_sizes(screen, scale, tmp_path):
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [
        {"name": "s", "x": 0, "y": 0, "width": screen[0], "height": screen[1],
         "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    ]}))  # fmt: skip
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}",
               QT_SCALE_FACTOR=str(scale), PYTHONPATH=str(REPO),
               ANNOTATOR_CACHE_DIR=str(tmp_path / "cache"),
               ANNOTATOR_DATA_DIR=str(tmp_path / "data"))  # fmt: skip
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True)  # fmt: skip
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    area_w, area_h = probe["area"]
    w, h = probe["window"]
    x, y, frame_w, frame_h = probe["frame"]
    assert (area_w, area_h) == (screen[0] // scale, screen[1] // scale)
    assert probe["dpr"] == scale
    assert x >= 0 and x + frame_w <= area_w  # the whole window, frame included, on screen
    assert y >= 0 and y + frame_h <= area_h
    assert probe["hidden"] == []  # every toolbar button is on screen, Settings included
    saved, restored = probe["splitter"]
    assert restored == saved  # the splitter remembers its sizes
    if area_w >= 1920:
        assert (w, h) == (PREFERRED_SIZE.width(), PREFERRED_SIZE.height())
