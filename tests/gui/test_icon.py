"""The app and its windows use annotator's icon."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from annotator.gui.app import setup_application
from annotator.gui.icon import application_icon


def test_application_icon_has_the_shipped_sizes(qapp):
    icon = application_icon()
    assert not icon.isNull()
    sizes = {(s.width(), s.height()) for s in icon.availableSizes()}
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= sizes


def test_windows_use_the_application_icon(qapp, qtbot, monkeypatch):
    from PySide6.QtWidgets import QWidget

    before = QApplication.windowIcon()
    try:
        setup_application(qapp)
        widget = QWidget()
        qtbot.addWidget(widget)
        assert not widget.windowIcon().isNull()
        assert widget.windowIcon().cacheKey() == QApplication.windowIcon().cacheKey()
        assert QApplication.desktopFileName() == "annotator"
    finally:
        QApplication.setWindowIcon(before)
