"""Start the desktop app: QApplication, settings, library, main window; ``run()``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.core.errors import AnnotatorError
from annotator.core.settings import (
    Settings,
    load_settings,
    save_settings,
    settings_from_dict,
    settings_path,
)
from annotator.core.threads import tune_interpreter
from annotator.gui.icon import application_icon
from annotator.gui.theme import apply_theme
from annotator.gui.widgets.main_window import MainWindow
from annotator.library import Library, open_library

log = logging.getLogger(__name__)


def default_store() -> QSettings:
    """Return the user's QSettings store: the app's window state (not its settings)."""
    return QSettings("annotator", "annotator")


def import_qsettings(store: QSettings) -> bool:
    """Move the settings older versions kept in QSettings ("index/...") to settings.json.

    Runs once: only when there is no settings file yet. Return whether it did.
    """
    keys = [k for k in store.allKeys() if k.startswith("index/")]
    if not keys or settings_path().exists():
        return False
    default = Settings()
    data: dict[str, object] = {}
    for f in fields(Settings):
        raw = store.value(f"index/{f.name}")
        like = getattr(default, f.name)
        if raw is None:
            continue
        if isinstance(like, bool):
            data[f.name] = str(raw).strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(like, int):
            with contextlib.suppress(TypeError, ValueError):
                data[f.name] = int(str(raw))
        else:
            data[f.name] = str(raw)
    save_settings(settings_from_dict(data))
    for key in keys:
        store.remove(key)
    store.sync()
    return True


class App:
    """Own the library and the main window; reopen both when the library location changes."""

    def __init__(self, store: QSettings) -> None:
        self.store = store
        self.library: Library | None = None
        self.window: MainWindow | None = None

    def open(
        self, settings: Settings, folders: Sequence[Path] = (), saved_library: str | None = None
    ) -> bool:
        """Open the library of ``settings``, show a main window on it and watch ``folders``.

        ``saved_library``: the settings file's library, when ``settings`` name another
        one for this session only.
        """
        try:
            library = open_library(settings.library_location())
        except AnnotatorError as exc:
            QMessageBox.critical(None, "annotator", f"Cannot open the library:\n{exc}")
            return False
        window = MainWindow(library, settings, store=self.store, saved_library=saved_library)
        window.sig_library_change_requested.connect(self._switch)
        self.library, self.window = library, window
        window.show()
        window.start()
        window.add_folders(list(folders))
        return True

    def _switch(self, settings: Settings) -> None:
        old_window, old_library = self.window, self.library
        if old_window is not None:
            old_window.shutdown()
            old_window.hide()
            old_window.deleteLater()
        if old_library is not None:
            old_library.close()
        self.window = self.library = None
        if not self.open(settings):
            QApplication.instance().quit()  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop the window's threads and close the library."""
        if self.window is not None:
            self.window.shutdown()
        if self.library is not None:
            self.library.close()


def setup_application(app: QApplication) -> None:
    """Name the application, give it its icon and desktop entry, and apply the theme."""
    app.setApplicationName("annotator")
    app.setOrganizationName("annotator")
    app.setApplicationDisplayName("annotator")
    app.setDesktopFileName("annotator")  # matches annotator.desktop (Wayland, task bars)
    app.setWindowIcon(application_icon())
    apply_theme(app)


def run(
    argv: Sequence[str] | None = None,
    *,
    library: str | None = None,
    folders: Sequence[Path] = (),
) -> int:
    """Open the desktop app and return its exit code when the window closes.

    ``library`` (a path or URL) opens that library for this session instead of the one
    in the settings; ``folders`` are added to the library and watched.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(list(argv) if argv is not None else sys.argv[:1])
    )
    setup_application(app)
    tune_interpreter()  # process-wide: only the app's own entry point does this
    store = default_store()
    import_qsettings(store)
    controller = App(store)
    settings = load_settings()
    saved_library = None
    if library:  # for this session only: not written to the settings file
        settings, saved_library = replace(settings, library=library), settings.library
    if not controller.open(settings, folders, saved_library):
        return 2
    try:
        return int(app.exec())
    finally:
        controller.close()
