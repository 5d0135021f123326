"""The sidebar: watched folders with counts (add, pause, resume, remove) and the filters."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.models.roots import ALL_ROOTS, RootListModel, RootRoles

Index = QModelIndex | QPersistentModelIndex

SHOW_LABELS = (
    ("all", "All photos"),
    ("unreviewed", "Not reviewed"),
    ("human", "Edited by a person"),
    ("reviewed", "Reviewed"),
    ("problems", "Queued and failed"),
)
ORDER_LABELS = (
    ("relevance", "Best match"),
    ("date", "Newest first"),
    ("confidence", "Lowest confidence first"),
)


class RootDelegate(QStyledItemDelegate):
    """Draw a folder as its name over a line of counts."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        """Return two lines of text."""
        return QSize(200, option.fontMetrics.lineSpacing() * 2 + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        """Draw the folder."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        r = QRectF(option.rect).adjusted(2, 1, -2, -1)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(r, 5, 5)
            text = pal.color(QPalette.ColorRole.HighlightedText)
        else:
            text = pal.color(QPalette.ColorRole.Text)
        paused = bool(index.data(RootRoles.Paused))
        is_all = index.data(RootRoles.RootId) == ALL_ROOTS
        icon = "▦" if is_all else ("⏸" if paused else "▸")
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        line = option.fontMetrics.lineSpacing()
        painter.setPen(text)
        name = option.fontMetrics.elidedText(
            f"{icon}  {index.data()}", Qt.TextElideMode.ElideMiddle, int(r.width()) - 16
        )
        painter.drawText(
            QRectF(r.x() + 8, r.y() + 5, r.width() - 16, line), Qt.AlignmentFlag.AlignLeft, name
        )
        small = QFont(option.font)
        small.setPointSizeF(option.font.pointSizeF() * 0.88)
        painter.setFont(small)
        dim = QColor(text)
        dim.setAlpha(170)
        painter.setPen(dim)
        painter.drawText(
            QRectF(r.x() + 8 + 18, r.y() + 5 + line, r.width() - 34, line),
            Qt.AlignmentFlag.AlignLeft,
            index.data(RootRoles.Summary) or "",
        )
        painter.restore()


class FolderList(QListView):
    """The folder list; dropping folders on it (or anywhere in the window) watches them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(RootDelegate(self))
        self.setUniformItemSizes(True)
        self.setObjectName("folderList")


class Sidebar(QWidget):
    """Folders with counts and buttons, then the filter and order of the grid."""

    sig_root_selected = Signal(object)  # root id, or None for all photos
    sig_add_clicked = Signal()
    sig_pause_clicked = Signal(int, bool)  # root id, pause (True) or resume (False)
    sig_remove_clicked = Signal(int)
    sig_filter_changed = Signal()
    sig_failures_clicked = Signal()
    sig_review_queue_clicked = Signal()

    def __init__(self, model: RootListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.model = model
        title = QLabel("FOLDERS")
        title.setObjectName("sectionTitle")
        self.folders = FolderList(self)
        self.folders.setModel(model)
        self.folders.selectionModel().currentChanged.connect(self._current_changed)
        model.modelReset.connect(self._update_buttons)
        model.dataChanged.connect(self._update_buttons)
        self.hint = QLabel("Drop folders here (or anywhere on the window) to watch them.")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")

        self.btn_add = QPushButton("+ Add folder…")
        self.btn_add.setToolTip("Watch a folder: its photos are captioned in the background")
        self.btn_add.clicked.connect(self.sig_add_clicked)
        self.btn_pause = QPushButton("Pause")
        self.btn_pause.setToolTip("Pause or resume captioning this folder")
        self.btn_pause.clicked.connect(self._pause_clicked)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setToolTip("Stop watching this folder (its photos are not deleted)")
        self.btn_remove.clicked.connect(self._remove_clicked)
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(self.btn_pause)
        row.addWidget(self.btn_remove)

        filters = QLabel("FILTER")
        filters.setObjectName("sectionTitle")
        self.show_combo = QComboBox()
        for key, label in SHOW_LABELS:
            self.show_combo.addItem(label, key)
        self.order_combo = QComboBox()
        for key, label in ORDER_LABELS:
            self.order_combo.addItem(label, key)
        self.show_combo.currentIndexChanged.connect(self.sig_filter_changed)
        self.order_combo.currentIndexChanged.connect(self.sig_filter_changed)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Show", self.show_combo)
        form.addRow("Order", self.order_combo)
        self.btn_review = QPushButton("Review queue")
        self.btn_review.setObjectName("reviewQueueButton")
        self.btn_review.setCheckable(True)
        self.btn_review.setToolTip("Walk the photos not reviewed yet, least confident first")
        self.btn_review.clicked.connect(self.sig_review_queue_clicked)
        self.btn_failures = QPushButton("Failures")
        self.btn_failures.setToolTip("Photos that could not be captioned, and why")
        self.btn_failures.clicked.connect(self.sig_failures_clicked)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        lay.addWidget(title)
        lay.addWidget(self.folders, 1)
        lay.addWidget(self.hint)
        lay.addWidget(self.btn_add)
        lay.addLayout(row)
        lay.addSpacing(10)
        lay.addWidget(filters)
        lay.addLayout(form)
        lay.addWidget(self.btn_review)
        lay.addWidget(self.btn_failures)
        self._update_buttons()

    def selected_root(self) -> int | None:
        """Return the selected root id (None: all photos)."""
        idx = self.folders.currentIndex()
        rid = idx.data(RootRoles.RootId) if idx.isValid() else ALL_ROOTS
        return None if rid in (None, ALL_ROOTS) else int(rid)

    def select_root(self, root_id: int | None) -> None:
        """Select a root (None: all photos)."""
        row = self.model.row_of(ALL_ROOTS if root_id is None else root_id)
        if row >= 0:
            self.folders.setCurrentIndex(self.model.index(row, 0))

    def show_filter(self) -> str:
        """Return the chosen filter key."""
        return str(self.show_combo.currentData())

    def order(self) -> str:
        """Return the chosen order key."""
        return str(self.order_combo.currentData())

    def set_filter(self, show: str, order: str) -> None:
        """Choose a filter and an order without emitting twice."""
        self.show_combo.blockSignals(True)
        self.order_combo.blockSignals(True)
        self.show_combo.setCurrentIndex(max(0, self.show_combo.findData(show)))
        self.order_combo.setCurrentIndex(max(0, self.order_combo.findData(order)))
        self.show_combo.blockSignals(False)
        self.order_combo.blockSignals(False)
        self.sig_filter_changed.emit()

    def set_failures(self, n: int) -> None:
        """Show the number of failures on the button."""
        self.btn_failures.setText(f"Failures ({n:,})" if n else "Failures")

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._update_buttons()
        self.sig_root_selected.emit(self.selected_root())

    def _update_buttons(self) -> None:
        rid = self.selected_root()
        self.btn_pause.setEnabled(rid is not None)
        self.btn_remove.setEnabled(rid is not None)
        idx = self.folders.currentIndex()
        paused = bool(idx.data(RootRoles.Paused)) if idx.isValid() else False
        self.btn_pause.setText("Resume" if paused else "Pause")
        self.hint.setVisible(self.model.rowCount() <= 1)

    def _pause_clicked(self) -> None:
        rid = self.selected_root()
        if rid is not None:
            idx = self.folders.currentIndex()
            self.sig_pause_clicked.emit(rid, not bool(idx.data(RootRoles.Paused)))

    def _remove_clicked(self) -> None:
        rid = self.selected_root()
        if rid is not None:
            self.sig_remove_clicked.emit(rid)
