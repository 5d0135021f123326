"""Start the desktop app: QApplication, preferences, library, main window; ``run()``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.core.errors import AnnotatorError
from annotator.core.threads import tune_interpreter
from annotator.gui.preferences import Preferences, default_store, load_preferences
from annotator.gui.theme import apply_theme
from annotator.gui.widgets.main_window import MainWindow
from annotator.library import Library, open_library

log = logging.getLogger(__name__)


class App:
    """Own the library and the main window; reopen both when the library location changes."""

    def __init__(self, store: QSettings) -> None:
        self.store = store
        self.library: Library | None = None
        self.window: MainWindow | None = None

    def open(self, prefs: Preferences) -> bool:
        """Open the library of ``prefs`` and show a main window on it."""
        try:
            library = open_library(prefs.library_location())
        except AnnotatorError as exc:
            QMessageBox.critical(None, "annotator", f"Cannot open the library:\n{exc}")
            return False
        window = MainWindow(library, prefs, store=self.store)
        window.sig_library_change_requested.connect(self._switch)
        self.library, self.window = library, window
        window.show()
        window.start()
        return True

    def _switch(self, prefs: Preferences) -> None:
        old_window, old_library = self.window, self.library
        if old_window is not None:
            old_window.shutdown()
            old_window.hide()
            old_window.deleteLater()
        if old_library is not None:
            old_library.close()
        self.window = self.library = None
        if not self.open(prefs):
            QApplication.instance().quit()  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop the window's threads and close the library."""
        if self.window is not None:
            self.window.shutdown()
        if self.library is not None:
            self.library.close()


def run(argv: Sequence[str] | None = None) -> int:
    """Open the desktop app and return its exit code when the window closes."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName("annotator")
    app.setOrganizationName("annotator")
    app.setApplicationDisplayName("annotator")
    apply_theme(app)  # type: ignore[arg-type]
    tune_interpreter()  # process-wide: only the app's own entry point does this
    store = default_store()
    controller = App(store)
    if not controller.open(load_preferences(store)):
        return 2
    try:
        return int(app.exec())
    finally:
        controller.close()
