"""List the photos that could not be captioned, with the reasons; retry them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.models.failures import FailureTableModel


class FailuresDialog(QDialog):
    """The failures view: file, reason, time; "Retry all" queues them again."""

    sig_retry = Signal()

    def __init__(self, model: FailureTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Failures")
        self.setObjectName("failuresDialog")
        self.resize(760, 320)
        self.model = model
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(self._open_folder)
        self.summary = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.btn_retry = buttons.addButton("Retry all", QDialogButtonBox.ButtonRole.ActionRole)
        self.btn_retry.clicked.connect(self.sig_retry)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        model.modelReset.connect(self._update)
        self._update()

    def _update(self) -> None:
        n = self.model.rowCount()
        self.summary.setText(
            f"{n:,} photo(s) could not be captioned. Double-click one to open its folder."
            if n
            else "No failures."
        )
        self.btn_retry.setEnabled(n > 0)

    def _open_folder(self, index: object) -> None:
        path = self.model.data(index, FailureTableModel.PathRole)  # type: ignore[arg-type]
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))
