"""Tabulate the photos that could not be captioned, and why."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from annotator.library import FailureInfo

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("File", "Reason", "When")


class FailureTableModel(QAbstractTableModel):
    """The library's failures: file, reason, time."""

    PathRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[FailureInfo] = []

    def set_rows(self, rows: list[FailureInfo]) -> None:
        """Show ``rows`` (newest first)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def failure(self, row: int) -> FailureInfo:
        """Return the failure at ``row``."""
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of failures."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Return the column titles."""
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return a cell."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        f = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return f.path.name
            if col == 1:
                return f.reason
            if col == 2:
                when = f.created_at
                if when.tzinfo is None:  # stored in UTC
                    when = when.replace(tzinfo=UTC)
                return when.astimezone().strftime("%Y-%m-%d %H:%M")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{f.path}\n{f.reason}"
        if role == self.PathRole:
            return str(f.path)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Return selectable, enabled cells."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )
