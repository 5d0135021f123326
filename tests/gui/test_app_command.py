"""`annotator app --library L FOLDER` and `annotator --library L` open the app on library L."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from annotator.core.settings import Settings, load_settings, save_settings
from annotator.gui.widgets.main_window import MainWindow

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _run_app_until(argv: list[str], done, gui_env: Path, gui_model: Path, monkeypatch):
    """Run ``main(argv)``; close the window once ``done(window)``; return (status, window)."""
    import annotator.gui.app as app_module
    from annotator.cli import main

    save_settings(Settings(model=str(gui_model), device="cpu", metadata="none", watch=False))
    store = QSettings(str(gui_env / "app.ini"), QSettings.Format.IniFormat)
    monkeypatch.setattr(app_module, "default_store", lambda: store)
    seen: list[MainWindow] = []
    deadline = time.monotonic() + 120
    timed_out: list[bool] = []

    def drive() -> None:
        if not timer.isActive():  # a tick queued before the stop: quit only once
            return
        if not seen:
            seen.extend(
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, MainWindow) and w.isVisible()
            )
        if not seen:
            return
        window = seen[0]
        if time.monotonic() > deadline:
            timed_out.append(True)
        finished = done(window) or bool(timed_out)
        if finished and window.isVisible() and not window._closing:
            window.close()  # waits for the worker, then closes
        if not window.isVisible():
            timer.stop()
            QApplication.quit()

    timer = QTimer()
    timer.timeout.connect(drive)
    timer.start(50)
    status = main(argv)
    timer.stop()  # the app may have quit on its own (last window closed) before drive saw it
    assert not timed_out, "the app did not get there in time"
    return status, seen[0]


def test_app_opens_the_given_library_and_watches_the_given_folders(
    qtbot, gui_env, gui_model, monkeypatch
):
    folder = gui_env / "photos"
    folder.mkdir()
    for name in ("camera.jpg", "coffee.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    library = gui_env / "chosen" / "demo.sqlite3"
    library.parent.mkdir()
    monkeypatch.chdir(library.parent)  # a relative --library, as in the README

    def folder_watched(window: MainWindow) -> bool:
        done = bool(window.model_id) and [r.path for r in window.library.roots()] == [folder]
        if done and window.settings.beam_size != 4:
            window.apply_settings(replace(window.settings, beam_size=4))  # saves the settings
        return done

    status, window = _run_app_until(
        ["app", "--library", "demo.sqlite3", str(folder)],
        folder_watched,
        gui_env,
        gui_model,
        monkeypatch,
    )
    assert status == 0
    assert window.library.location == str(library)
    assert [r.path for r in window.library.roots()] == [folder]
    saved = load_settings()
    assert saved.beam_size == 4
    assert saved.library == ""  # a session's choice, not saved with the other settings


def test_top_level_library_without_a_command_opens_the_app_on_it(
    qtbot, gui_env, gui_model, monkeypatch
):
    library = gui_env / "other.sqlite3"
    status, window = _run_app_until(
        ["--library", str(library)], lambda w: bool(w.model_id), gui_env, gui_model, monkeypatch
    )
    assert status == 0
    assert window.library.location == str(library)
    assert library.is_file()
