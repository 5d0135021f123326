"""The main window: folders, thumbnail grid, review panel, search, status bar.

It wires the library and an :class:`~annotator.pipeline.service.IndexService` to the
widgets. Every database call and every decode runs on a background thread
(:class:`~annotator.gui.tasks.Tasks`, the worker, the thumbnail loader); the GUI
thread only builds widgets, converts QImages to QPixmaps and handles signals.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QUndoGroup,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QTextEdit,
    QWidget,
)

from annotator.core.settings import Settings, save_settings
from annotator.core.types import PhotoFailure
from annotator.gui.bridge import Bridge
from annotator.gui.models.failures import FailureTableModel
from annotator.gui.models.photos import PhotoListModel, PhotoQuery, Roles
from annotator.gui.models.roots import RootListModel, RootRow, read_roots
from annotator.gui.tasks import Tasks
from annotator.gui.thumbnails import ThumbnailLoader, default_thumbnail_cache
from annotator.gui.widgets.export_dialog import ExportDialog
from annotator.gui.widgets.failures_dialog import FailuresDialog
from annotator.gui.widgets.grid import PhotoGrid
from annotator.gui.widgets.main_actions import (
    MainActions,
    build_menus,
    build_search_box,
    build_toolbar,
    build_zoom_slider,
)
from annotator.gui.widgets.review_panel import MAX_ALTERNATIVES, ReviewPanel
from annotator.gui.widgets.settings_dialog import SettingsDialog
from annotator.gui.widgets.sidebar import Sidebar
from annotator.gui.widgets.status_bar import IndexStatusBar
from annotator.gui.widgets.window_size import PREFERRED_SIZE, fit_window
from annotator.library import Library, RootInfo
from annotator.pipeline.review import Accepted, accept_caption
from annotator.pipeline.runner import (
    IndexSettings,
    PhotoCaptioned,
    Progress,
    RunSummary,
)
from annotator.pipeline.service import FilesRemoved, IndexService, ModelReady, Scanned

if TYPE_CHECKING:
    from annotator.model.captioner import Captioner

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 200
TEXT_INPUTS = (QLineEdit, QPlainTextEdit, QTextEdit, QAbstractSpinBox)


def local_folders(urls: list) -> list[Path]:
    """Return the local folders among dropped URLs."""
    out = []
    for url in urls:
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.is_dir():
                out.append(p)
    return out


class MainWindow(QMainWindow):
    """Browse, search and review the library while the worker captions in the background."""

    sig_library_change_requested = Signal(object)  # Settings with another library
    sig_accepted = Signal(object)  # Accepted
    sig_roots_changed = Signal()  # the folder list (with counts) was refreshed

    def __init__(
        self,
        library: Library,
        settings: Settings,
        *,
        store: QSettings | None = None,
        captioner: Captioner | None = None,
        thumbnail_cache: Path | None = None,
        saved_library: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.settings = settings
        self.store = store
        # Opened on another library for this session (`annotator app --library`): the
        # library the settings file names, kept there when other settings are saved.
        self.saved_library = saved_library
        self.setWindowTitle("annotator")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)

        self.tasks = Tasks(3, self)
        self.thumbnails = ThumbnailLoader(
            thumbnail_cache or default_thumbnail_cache(), threads=2, parent=self
        )
        self.bridge = Bridge(self)
        self.worker = IndexService(
            library,
            IndexSettings.of(settings),
            self.bridge.listener,
            captioner=captioner,
            watch=settings.watch,
            background=True,
        )
        self.photos = PhotoListModel(library, self.tasks, self.thumbnails, self)
        self.roots = RootListModel(self)
        self.failures = FailureTableModel(self)
        self.undo_group = QUndoGroup(self)

        self._review_mode = False
        self._before_review: tuple[str, str, str] | None = None
        self._closing = False
        self._closed = False
        self._restart_worker = False
        self._dirty: set[int] = set()
        self._select_first = False
        self._pending_select: int | None = None
        self._scroll = 0
        self.model_id = ""
        self.device = ""
        self.queued = 0
        self._failures_dialog: FailuresDialog | None = None
        self._export_dialog: ExportDialog | None = None

        self._build()
        self._connect()
        fit_window(self, None if self._restore_state() else PREFERRED_SIZE)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.sidebar = Sidebar(self.roots, self)
        self.grid = PhotoGrid(self)
        self.grid.setModel(self.photos)
        self.panel = ReviewPanel(self.library, self.tasks, self.undo_group, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([250, 700, 530])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.search = build_search_box(self)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self.zoom = build_zoom_slider(self.grid.delegate.thumb)
        self.main_actions = MainActions(self, self.undo_group, MAX_ALTERNATIVES)
        build_menus(self.menuBar(), self.main_actions)
        self.addActions(self.main_actions.always_active())  # active while the menus are closed
        self.addToolBar(build_toolbar(self, self.main_actions, self.search, self.zoom))
        self.status = IndexStatusBar(self)
        self.setStatusBar(self.status)

    def _connect(self) -> None:
        a = self.main_actions
        a.add.triggered.connect(self.choose_folder)
        a.settings.triggered.connect(self.open_settings)
        a.export.triggered.connect(self.open_export)
        a.quit.triggered.connect(self.close)
        a.edit.triggered.connect(self.panel.begin_edit)
        a.accept.triggered.connect(self.panel.accept)
        a.revert.triggered.connect(self.panel.revert_to_model)
        a.prev.triggered.connect(lambda: self.grid.step(-1))
        a.next.triggered.connect(lambda: self.grid.step(1))
        a.find.triggered.connect(self.focus_search)
        a.review.toggled.connect(self.set_review_mode)
        a.failures.triggered.connect(self.open_failures)
        for i, act in enumerate(a.alternatives):
            act.triggered.connect(lambda checked=False, k=i: self.pick_alternative(k))
        self.zoom.valueChanged.connect(self.grid.set_thumb_size)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_query)
        self._search_timer.timeout.connect(self.apply_query)
        self.sidebar.sig_root_selected.connect(lambda _: self.apply_query())
        self.sidebar.sig_filter_changed.connect(self.apply_query)
        self.sidebar.sig_add_clicked.connect(self.choose_folder)
        self.sidebar.sig_pause_clicked.connect(self.pause_root)
        self.sidebar.sig_remove_clicked.connect(self.confirm_remove_root)
        self.sidebar.sig_failures_clicked.connect(self.open_failures)
        self.sidebar.sig_review_queue_clicked.connect(
            lambda: self.main_actions.review.setChecked(self.sidebar.btn_review.isChecked())
        )
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.photos.modelAboutToBeReset.connect(self._before_reset)
        self.photos.modelReset.connect(self._after_reset)
        self.photos.sig_loaded.connect(self._after_load)
        self.photos.sig_error.connect(lambda msg: self.message(f"cannot read the library: {msg}"))
        self.panel.sig_accept.connect(self.accept_caption)
        self.panel.sig_navigate.connect(self.grid.step)

        b = self.bridge
        b.sig_progress.connect(self._on_progress)
        b.sig_captioned.connect(self._on_captioned)
        b.sig_failed.connect(self._on_failed)
        b.sig_status.connect(lambda msg: self.message(msg))
        b.sig_finished.connect(self._on_finished)
        b.sig_model_ready.connect(self._on_model_ready)
        b.sig_model_failed.connect(self._on_model_failed)
        b.sig_scanned.connect(self._on_scanned)
        b.sig_files_removed.connect(self._on_files_removed)
        b.sig_worker_stopped.connect(self._on_worker_stopped)

        self._roots_timer = QTimer(self)
        self._roots_timer.setSingleShot(True)
        self._roots_timer.setInterval(600)
        self._roots_timer.timeout.connect(self.refresh_roots)
        self._dirty_timer = QTimer(self)
        self._dirty_timer.setSingleShot(True)
        self._dirty_timer.setInterval(250)
        self._dirty_timer.timeout.connect(self._flush_dirty)
        self._grid_timer = QTimer(self)
        self._grid_timer.setSingleShot(True)
        self._grid_timer.setInterval(800)
        self._grid_timer.timeout.connect(self.photos.refresh)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Show the library and start the worker (model load, scan of every folder)."""
        self.refresh_roots()
        self.apply_query(force=True)
        self.worker.start()
        self.worker.scan(None)

    def shutdown(self, timeout: float | None = 60.0) -> None:
        """Stop the worker and the background threads (waits for the current batch)."""
        if self._closed:
            return
        self._closed = True
        self._save_state()
        for t in (self._roots_timer, self._dirty_timer, self._grid_timer, self._search_timer):
            t.stop()
        self.worker.shutdown(timeout)
        self.thumbnails.shutdown()
        self.tasks.close(wait=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Finish the current batch before closing; the queue itself is kept in the library."""
        if self._closed:
            event.accept()
            return
        if self.panel.editing:
            self.panel.commit_edit()
        if self.worker.running:
            self._closing = True
            self.worker.stop()
            self.setEnabled(False)
            self.message("Finishing the current batch before closing…", 0)
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def _save_state(self) -> None:
        if self.store is None:
            return
        self.store.setValue("window/geometry", self.saveGeometry())
        self.store.setValue("window/splitter", self.splitter.saveState())
        self.store.setValue("window/thumb", self.zoom.value())
        self.store.setValue("window/order", self.sidebar.order())
        self.store.sync()

    def _restore_state(self) -> bool:
        """Restore the window's layout; return whether a saved geometry was restored."""
        if self.store is None:
            return False
        geometry = self.store.value("window/geometry")
        restored = isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)
        splitter = self.store.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        with contextlib.suppress(TypeError, ValueError):
            self.zoom.setValue(int(str(self.store.value("window/thumb", self.zoom.value()))))
        order = self.store.value("window/order")
        if isinstance(order, str):
            self.sidebar.order_combo.setCurrentIndex(
                max(0, self.sidebar.order_combo.findData(order))
            )
        return restored

    # ------------------------------------------------------------------ messages

    def message(self, text: str, timeout_ms: int = 8000) -> None:
        """Show ``text`` in the status bar."""
        self.status.showMessage(text, timeout_ms)

    # ------------------------------------------------------------------ query

    def current_query(self) -> PhotoQuery:
        """Return the query the search box and the sidebar describe."""
        return PhotoQuery(
            text=self.search.text(),
            root_id=self.sidebar.selected_root(),
            show=self.sidebar.show_filter(),
            order_by=self.sidebar.order(),
        )

    def apply_query(self, force: bool = False) -> None:
        """Show the photos of the current query (from the top)."""
        self._search_timer.stop()
        query = self.current_query()
        if query != self.photos.query or force:
            self.grid.scrollToTop()
            self._scroll = 0
        self.photos.set_query(query, force=force)

    def focus_search(self) -> None:
        """Put the cursor in the search box (Ctrl+F)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def set_review_mode(self, on: bool) -> None:
        """Walk the photos not reviewed yet, least confident first (or go back)."""
        if on == self._review_mode:
            return
        self._review_mode = on
        self.sidebar.btn_review.setChecked(on)
        if on:
            self._before_review = (
                self.search.text(),
                self.sidebar.show_filter(),
                self.sidebar.order(),
            )
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
            self._select_first = True
            self.sidebar.set_filter("unreviewed", "confidence")
            self.message(
                "Review queue: unreviewed photos, least confident first. "
                "1–5 picks an alternative, F2 edits, Ctrl+Enter accepts and moves on."
            )
        else:
            text, show, order = self._before_review or ("", "all", "relevance")
            self.search.blockSignals(True)
            self.search.setText(text)
            self.search.blockSignals(False)
            self.sidebar.set_filter(show, order)

    @property
    def review_mode(self) -> bool:
        """Return whether the review queue is on."""
        return self._review_mode

    # ------------------------------------------------------------------ selection

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        pid = current.data(Roles.PhotoId) if current.isValid() else None
        if pid is not None and pid != self.panel.photo_id:
            self.panel.show_photo(pid)

    def _before_reset(self) -> None:
        self._scroll = self.grid.verticalScrollBar().value()

    def _after_reset(self) -> None:
        pid = self.panel.photo_id
        self._pending_select = pid
        if self._scroll:  # a refresh keeps the place (apply_query went to the top already)
            scroll = self._scroll
            QTimer.singleShot(0, lambda: self.grid.verticalScrollBar().setValue(scroll))

    def _after_load(self) -> None:
        if self._select_first:
            self._select_first = False
            self._pending_select = None
            if self.photos.rowCount():
                self.grid.select_row(0)
            return
        pid = self._pending_select
        if pid is not None:
            idx = self.photos.index_of(pid)
            if idx.isValid():
                self._pending_select = None
                self.grid.selectionModel().setCurrentIndex(
                    idx, self.grid.selectionModel().SelectionFlag.ClearAndSelect
                )
        elif (
            not self.grid.currentIndex().isValid()
            and self.photos.rowCount()
            and self.panel.photo_id is None
        ):
            self.grid.select_row(0)

    def select_photo(self, photo_id: int) -> bool:
        """Select a photo shown in the grid; return False if it is not shown."""
        idx = self.photos.index_of(photo_id)
        if not idx.isValid():
            return False
        self.grid.setCurrentIndex(idx)
        self.grid.scrollTo(idx)
        return True

    def pick_alternative(self, i: int) -> None:
        """Use the ``i``-th alternative, unless the keyboard is typing into a text field."""
        focus = self.focusWidget()
        if isinstance(focus, TEXT_INPUTS) or (isinstance(focus, QComboBox) and focus.isEditable()):
            return
        self.panel.pick_alternative(i)

    # ------------------------------------------------------------------ review

    def accept_caption(self, photo_id: int, text: str) -> None:
        """Store ``text`` as the reviewed caption of ``photo_id`` (background), per settings."""
        library, settings = self.library, IndexSettings.of(self.settings)
        self.tasks.submit(
            lambda: accept_caption(library, photo_id, text, settings),
            self._accepted,
            lambda exc: self.message(f"could not store the caption: {exc}"),
        )

    def _accepted(self, result: Accepted) -> None:
        self.panel.accepted(result.photo_id)
        self.photos.refresh_photos([result.photo_id])
        what = "new caption stored" if result.stored == "revision" else "marked reviewed"
        self.message(f"{what}; photo metadata: {result.metadata}")
        self.schedule_roots_refresh()
        if self._review_mode and self.panel.photo_id == result.photo_id:
            self.grid.step(1)
        self.sig_accepted.emit(result)

    # ------------------------------------------------------------------ folders

    def choose_folder(self) -> None:
        """Ask for a folder to watch."""
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder", str(Path.home()))
        if folder:
            self.add_folders([Path(folder)])

    def add_folders(self, folders: list[Path]) -> None:
        """Watch ``folders``: add them to the library, scan them, caption their photos."""
        if not folders:
            return
        library = self.library

        def add() -> tuple[list[RootInfo], list[str]]:
            added, errors = [], []
            for folder in folders:
                try:
                    added.append(library.add_root(folder))
                except (ValueError, OSError, RuntimeError) as exc:
                    errors.append(str(exc))
                except Exception as exc:  # noqa: BLE001 - LibraryError and kin: shown
                    errors.append(str(exc))
            return added, errors

        self.tasks.submit(add, self._folders_added)

    def _folders_added(self, result: tuple[list[RootInfo], list[str]]) -> None:
        added, errors = result
        if added:
            self.worker.scan(added)
            names = ", ".join(r.path.name for r in added)
            self.message(f"Watching {names}: scanning…")
            self.refresh_roots()
        if errors:
            self.message("; ".join(errors), 15000)

    def pause_root(self, root_id: int, pause: bool) -> None:
        """Pause (or resume) captioning the photos of a folder."""
        library = self.library

        def done(_: object) -> None:
            self.refresh_roots()
            if not pause:
                roots = [r for r in library.roots() if r.id == root_id]
                self.worker.scan(roots)
                self.worker.wake()
            self.message("Folder paused" if pause else "Folder resumed")

        self.tasks.submit(
            lambda: library.set_root_paused(root_id, pause),
            done,
            lambda exc: self.message(str(exc)),
        )

    def confirm_remove_root(self, root_id: int) -> None:
        """Ask, then stop watching a folder."""
        row = (
            self.roots.row(self.roots.row_of(root_id)) if self.roots.row_of(root_id) >= 0 else None
        )
        where = str(row.info.path) if row is not None and row.info is not None else "this folder"
        answer = QMessageBox.question(
            self,
            "Stop watching?",
            f"Stop watching {where}?\n\nIts photos stay on disk; their captions are removed "
            "from the library (captions already written into photos stay there).",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_root(root_id)

    def remove_root(self, root_id: int) -> None:
        """Stop watching a folder and forget its photos (files are untouched)."""
        library = self.library

        def done(n: int) -> None:
            self.message(f"Folder removed ({n:,} photos forgotten; files untouched)")
            self.sidebar.select_root(None)
            self.refresh_roots()
            self.photos.refresh()
            self.worker.rewatch()

        self.tasks.submit(
            lambda: library.remove_root(root_id), done, lambda exc: self.message(str(exc))
        )

    def refresh_roots(self) -> None:
        """Re-read the folders and their counts (background)."""
        library = self.library
        self.tasks.submit(lambda: read_roots(library), self._on_roots)

    def schedule_roots_refresh(self) -> None:
        """Refresh the folder counts soon (coalesces bursts of events)."""
        if not self._roots_timer.isActive():
            self._roots_timer.start()

    def _on_roots(self, rows: list[RootRow]) -> None:
        current = self.sidebar.selected_root()
        self.roots.set_rows(rows)
        if current is not None and self.sidebar.selected_root() != current:
            self.sidebar.select_root(current)
        total = rows[0].counts
        self.sidebar.set_failures(total.failed)
        self.queued = total.queued
        self.status.show_queued(total.queued)
        self.sig_roots_changed.emit()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept folders dragged from a file manager."""
        if local_folders(event.mimeData().urls()):
            event.acceptProposedAction()
            self.message("Drop to watch these folders", 3000)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        """Keep accepting folders while the drag moves."""
        if local_folders(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Watch the dropped folders."""
        folders = local_folders(event.mimeData().urls())
        if not folders:
            self.message("Drop folders (not single files) to watch them")
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_folders(folders)

    # ------------------------------------------------------------------ worker events

    def _on_progress(self, p: Progress) -> None:
        self.status.show_progress(p)
        self.schedule_roots_refresh()

    def _on_captioned(self, e: PhotoCaptioned) -> None:
        self._dirty.add(e.photo_id)
        if not self._dirty_timer.isActive():
            self._dirty_timer.start()

    def _on_failed(self, e: PhotoFailure) -> None:
        self.message(f"{e.path.name}: {e.reason}")
        pid = self.photos.photo_id_at_path(str(e.path))
        if pid is not None:
            self._dirty.add(pid)
            if not self._dirty_timer.isActive():
                self._dirty_timer.start()
        self.schedule_roots_refresh()

    def _flush_dirty(self) -> None:
        ids, self._dirty = self._dirty, set()
        self.photos.refresh_photos(ids)
        if self.panel.photo_id in ids and not self.panel.has_draft and not self.panel.editing:
            self.panel.reload()
        self.schedule_roots_refresh()

    def _on_finished(self, summary: RunSummary) -> None:
        self.status.hide_progress()
        self.schedule_roots_refresh()

    def _on_model_ready(self, m: ModelReady) -> None:
        self.model_id = m.model_id
        self.device = m.device
        self.status.show_model(m.model_id, m.device, str(self.settings.model_path()))

    def _on_model_failed(self, reason: str) -> None:
        self.status.show_no_model(reason)
        self.message(
            f"Cannot load the captioning model ({reason}). Browsing works; choose a "
            "model in Settings to caption.",
            0,
        )

    def _on_scanned(self, s: Scanned) -> None:
        self.refresh_roots()
        if s.queued or s.root_ids:
            if self.photos.rowCount() == 0:
                self.photos.refresh()
            elif not self._grid_timer.isActive():
                self._grid_timer.start()

    def _on_files_removed(self, e: FilesRemoved) -> None:
        if e.marked and not self._grid_timer.isActive():
            self._grid_timer.start()
        self.schedule_roots_refresh()

    def _on_worker_stopped(self, generation: int) -> None:
        if generation != self.worker.generation:
            return
        if self._closing:
            self.shutdown()
            self.close()
            return
        if self._restart_worker:
            self._restart_worker = False
            self.worker.start()
            return
        self.status.hide_progress()

    # ------------------------------------------------------------------ dialogs

    def open_settings(self) -> None:
        """Show the settings dialog and apply what was chosen."""
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.apply_settings(dialog.settings())

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings: save them; restart the worker or reopen the library as needed."""
        old, self.settings = self.settings, settings
        saved = self.saved_library
        if saved is not None and settings.library == old.library:
            save_settings(replace(settings, library=saved))  # the session's library stays unsaved
        else:
            save_settings(settings)
        if settings.library != old.library:
            self.sig_library_change_requested.emit(settings)
            return
        if settings.watch != old.watch:
            self.worker.watch = settings.watch
            self.worker.rewatch()
        new = IndexSettings.of(settings)
        if not IndexSettings.of(old).same_work(new):
            self.worker.set_settings(new)
            if self.worker.running:
                self._restart_worker = True
                self.worker.stop()
                self.message("New settings apply after the current batch")
            else:
                self.worker.start()

    def open_export(self) -> ExportDialog:
        """Show the export dialog (not modal)."""
        if self._export_dialog is None:
            self._export_dialog = ExportDialog(self.library, self.tasks, self.settings.model, self)
        self._export_dialog.show()
        self._export_dialog.raise_()
        return self._export_dialog

    def open_failures(self) -> FailuresDialog:
        """Show the failures view (not modal)."""
        if self._failures_dialog is None:
            self._failures_dialog = FailuresDialog(self.failures, self)
            self._failures_dialog.sig_retry.connect(self.retry_failures)
        library = self.library
        self.tasks.submit(lambda: library.failures(limit=None), self.failures.set_rows)
        self._failures_dialog.show()
        self._failures_dialog.raise_()
        return self._failures_dialog

    def retry_failures(self) -> None:
        """Queue every failed photo again."""

        def done(n: int) -> None:
            self.failures.set_rows([])
            self.message(f"{n:,} photo(s) queued again")
            self.schedule_roots_refresh()

        self.tasks.submit(self.worker.retry_failed, done, lambda exc: self.message(str(exc)))
