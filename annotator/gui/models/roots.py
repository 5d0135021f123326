"""List the watched folders with their photo counts, for the sidebar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from annotator.library import Library, RootCounts, RootInfo

Index = QModelIndex | QPersistentModelIndex
ALL_ROOTS = 0  # root id of the "All photos" row


class RootRoles:
    """Item data roles of :class:`RootListModel` beyond Qt's own."""

    RootId = Qt.ItemDataRole.UserRole + 1  # ALL_ROOTS for the first row
    Path = Qt.ItemDataRole.UserRole + 2
    Paused = Qt.ItemDataRole.UserRole + 3
    Counts = Qt.ItemDataRole.UserRole + 4  # RootCounts
    Available = Qt.ItemDataRole.UserRole + 5
    Summary = Qt.ItemDataRole.UserRole + 6  # "1,204 photos · 12 queued · 3 failed"


@dataclass(frozen=True)
class RootRow:
    """A watched folder and its counts (``info`` is None for "All photos")."""

    info: RootInfo | None
    counts: RootCounts
    available: bool = True

    @property
    def root_id(self) -> int:
        """Return the root's id (ALL_ROOTS for the "All photos" row)."""
        return self.info.id if self.info is not None else ALL_ROOTS

    @property
    def name(self) -> str:
        """Return the label: the folder's name, or "All photos"."""
        if self.info is None:
            return "All photos"
        return self.info.path.name or str(self.info.path)

    @property
    def summary(self) -> str:
        """Return the counts as a short line."""
        c = self.counts
        parts = [f"{c.total - c.missing:,} photo{'s' if c.total - c.missing != 1 else ''}"]
        if c.queued:
            parts.append(f"{c.queued:,} queued")
        if c.failed:
            parts.append(f"{c.failed:,} failed")
        if c.missing:
            parts.append(f"{c.missing:,} missing")
        if self.info is not None and self.info.paused:
            parts.append("paused" if self.available else "not reachable, paused")
        return " · ".join(parts)


def read_roots(library: Library) -> list[RootRow]:
    """Return "All photos" then every root with its counts (runs on a background thread)."""
    roots = library.roots()
    counts = library.root_counts()
    rows = [RootRow(r, counts.get(r.id, RootCounts()), r.available) for r in roots]
    total = RootCounts(
        pending=sum(r.counts.pending for r in rows),
        captioned=sum(r.counts.captioned for r in rows),
        failed=sum(r.counts.failed for r in rows),
        missing=sum(r.counts.missing for r in rows),
        queued=sum(r.counts.queued for r in rows),
    )
    return [RootRow(None, total), *rows]


class RootListModel(QAbstractListModel):
    """ "All photos" and the watched folders, with counts."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RootRow] = [RootRow(None, RootCounts())]

    def set_rows(self, rows: list[RootRow]) -> None:
        """Show ``rows``: counts are updated in place, a changed set of folders resets."""
        if [r.root_id for r in rows] == [r.root_id for r in self._rows]:
            changed = [i for i, (a, b) in enumerate(zip(self._rows, rows, strict=True)) if a != b]
            self._rows = list(rows)
            if changed:
                self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), 0))
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of rows ("All photos" included)."""
        return 0 if parent.isValid() else len(self._rows)

    def row(self, i: int) -> RootRow:
        """Return the row at ``i``."""
        return self._rows[i]

    def row_of(self, root_id: int) -> int:
        """Return the row of a root id, or -1."""
        for i, r in enumerate(self._rows):
            if r.root_id == root_id:
                return i
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return the data of a folder for ``role``."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return r.name
        if role == Qt.ItemDataRole.ToolTipRole:
            where = str(r.info.path) if r.info is not None else "every watched folder"
            return f"{where}\n{r.summary}"
        if role == RootRoles.RootId:
            return r.root_id
        if role == RootRoles.Path:
            return str(r.info.path) if r.info is not None else ""
        if role == RootRoles.Paused:
            return bool(r.info is not None and r.info.paused)
        if role == RootRoles.Counts:
            return r.counts
        if role == RootRoles.Available:
            return r.available
        if role == RootRoles.Summary:
            return r.summary
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Return selectable, enabled items."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )
