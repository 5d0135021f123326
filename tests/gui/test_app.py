"""`annotator` with no arguments opens the app; closing it returns 0 and keeps the queue."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from annotator.core.settings import Settings, load_settings, save_settings, settings_path
from annotator.gui.widgets.main_window import MainWindow

APP_TIMEOUT_MS = 120_000  # the app must have opened, loaded the model and closed by then


def test_annotator_without_arguments_runs_the_app(qtbot, gui_env, gui_model, monkeypatch):
    import annotator.gui.app as app_module
    from annotator.cli import main

    save_settings(Settings(model=str(gui_model), device="cpu", metadata="none", watch=False))
    store = QSettings(str(gui_env / "app.ini"), QSettings.Format.IniFormat)
    monkeypatch.setattr(app_module, "default_store", lambda: store)
    seen: list[MainWindow] = []
    timed_out: list[bool] = []

    def drive() -> None:
        if not timer.isActive():  # a tick queued before the stop: quit only once
            return
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

    def give_up() -> None:  # fail instead of hanging when the app never gets there
        if not timer.isActive():
            return
        timed_out.append(True)
        timer.stop()
        for w in seen:
            w.shutdown(timeout=5.0)
        QApplication.quit()

    timer = QTimer()
    timer.timeout.connect(drive)
    timer.start(50)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(give_up)
    deadline.start(APP_TIMEOUT_MS)
    code = main([])
    timer.stop()  # the app may have quit on its own (last window closed) before drive saw it
    deadline.stop()
    assert not timed_out, "the app did not open, load the model and close in time"
    assert code == 0
    window = seen[0]
    assert not window.worker.running
    assert window.library.location.startswith(str(gui_env / "data"))
    assert window.settings.model == str(gui_model)


def test_settings_kept_in_qsettings_by_older_versions_move_to_settings_json(gui_env):
    from annotator.gui.app import import_qsettings

    store = QSettings(str(gui_env / "old.ini"), QSettings.Format.IniFormat)
    store.setValue("index/beam_size", "5")
    store.setValue("index/metadata", "sidecar")
    store.setValue("index/watch", "false")
    store.setValue("window/thumb", 200)
    assert not settings_path().exists()
    assert import_qsettings(store)
    settings = load_settings()
    assert (settings.beam_size, settings.metadata, settings.watch) == (5, "sidecar", False)
    assert store.allKeys() == ["window/thumb"]  # window state stays in QSettings
    store.setValue("index/beam_size", "7")
    assert not import_qsettings(store)  # once only: settings.json wins
    assert load_settings().beam_size == 5
