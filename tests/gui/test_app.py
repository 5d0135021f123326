"""`annotator` with no arguments opens the app; closing it returns 0 and keeps the queue."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from annotator.gui.widgets.main_window import MainWindow


def test_annotator_without_arguments_runs_the_app(qtbot, gui_env, gui_model, monkeypatch):
    import annotator.gui.app as app_module
    from annotator.cli import main

    store = QSettings(str(gui_env / "app.ini"), QSettings.Format.IniFormat)
    store.setValue("index/model", str(gui_model))
    store.setValue("index/device", "cpu")
    store.setValue("index/metadata", "none")
    store.setValue("index/watch", False)
    monkeypatch.setattr(app_module, "default_store", lambda: store)
    seen: list[MainWindow] = []

    def drive() -> None:
        windows = [
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        ]
        if windows and not seen:
            seen.append(windows[0])
        if seen and seen[0].model_id and seen[0].isVisible() and not seen[0]._closing:
            seen[0].close()  # waits for the worker, then closes
        if seen and not seen[0].isVisible():
            timer.stop()
            QApplication.quit()

    timer = QTimer()
    timer.timeout.connect(drive)
    timer.start(50)
    assert main([]) == 0
    window = seen[0]
    assert not window.worker.running
    assert window.library.location.startswith(str(gui_env / "data"))
