"""Build the main window's actions, its menus and its toolbar."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import QLabel, QLineEdit, QMenuBar, QSlider, QToolBar, QWidget


class MainActions:
    """Hold the main window's QActions with their labels and shortcuts (not connected)."""

    def __init__(self, parent: QObject, undo_group: QUndoGroup, alternatives: int) -> None:
        self.add = QAction("Add folder…", parent)
        self.settings = QAction("Settings…", parent)
        self.settings.setShortcut(QKeySequence.StandardKey.Preferences)
        self.export = QAction("Export…", parent)
        self.export.setShortcut(QKeySequence("Ctrl+E"))
        self.quit = QAction("Quit", parent)
        self.quit.setShortcut(QKeySequence.StandardKey.Quit)
        self.undo = undo_group.createUndoAction(parent, "Undo")
        self.undo.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo = undo_group.createRedoAction(parent, "Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")])
        self.edit = QAction("Edit caption", parent)
        self.edit.setShortcut(QKeySequence("F2"))
        self.accept = QAction("Accept caption", parent)
        self.accept.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.revert = QAction("Revert to the model's caption", parent)
        self.prev = QAction("Previous photo", parent)
        self.prev.setShortcut(QKeySequence("Ctrl+Up"))
        self.next = QAction("Next photo", parent)
        self.next.setShortcut(QKeySequence("Ctrl+Down"))
        self.find = QAction("Search", parent)
        self.find.setShortcut(QKeySequence("Ctrl+F"))
        self.review = QAction("Review queue", parent)
        self.review.setCheckable(True)
        self.review.setShortcut(QKeySequence("Ctrl+R"))
        self.failures = QAction("Failures…", parent)
        self.alternatives: list[QAction] = []
        for i in range(alternatives):  # keys 1.. pick the review panel's alternatives
            act = QAction(f"Use alternative {i + 1}", parent)
            act.setShortcuts([QKeySequence(str(i + 1)), QKeySequence(f"Alt+{i + 1}")])
            self.alternatives.append(act)

    def always_active(self) -> list[QAction]:
        """Return the actions whose shortcuts work while the menus are closed."""
        return [self.undo, self.redo, *self.alternatives]


def build_menus(bar: QMenuBar, a: MainActions) -> None:
    """Fill the menu bar: File, Edit, View, Go."""
    m = bar.addMenu("&File")
    m.addActions([a.add, a.export, a.settings])
    m.addSeparator()
    m.addAction(a.quit)
    m = bar.addMenu("&Edit")
    m.addActions([a.undo, a.redo])
    m.addSeparator()
    m.addActions([a.edit, a.accept, a.revert])
    m.addSeparator()
    m.addActions(a.alternatives)
    m = bar.addMenu("&View")
    m.addActions([a.find, a.review, a.failures])
    m = bar.addMenu("&Go")
    m.addActions([a.prev, a.next])


def build_search_box(parent: QWidget) -> QLineEdit:
    """Return the toolbar's search box."""
    search = QLineEdit(parent)
    search.setObjectName("search")
    search.setPlaceholderText("Search captions and keywords…  (Ctrl+F)")
    search.setClearButtonEnabled(True)
    return search


def build_zoom_slider(thumb: int) -> QSlider:
    """Return the thumbnail size slider, at ``thumb`` pixels."""
    zoom = QSlider(Qt.Orientation.Horizontal)
    zoom.setRange(96, 320)
    zoom.setValue(thumb)
    zoom.setFixedWidth(110)
    zoom.setToolTip("Thumbnail size")
    return zoom


def build_toolbar(parent: QWidget, a: MainActions, search: QLineEdit, zoom: QSlider) -> QToolBar:
    """Return the main toolbar: add folder, search, review queue, thumbnail size, export."""
    tb = QToolBar("Main", parent)
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.addAction(a.add)
    tb.addSeparator()
    tb.addWidget(search)
    spacer = QWidget()
    spacer.setFixedWidth(12)
    tb.addWidget(spacer)
    tb.addAction(a.review)
    tb.addSeparator()
    tb.addWidget(QLabel("Size"))
    tb.addWidget(zoom)
    tb.addSeparator()
    tb.addAction(a.export)
    tb.addAction(a.settings)
    return tb
