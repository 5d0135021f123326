"""Show photos as a thumbnail grid with badges and highlighted captions."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextLayout,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from annotator.gui.models.photos import MARK_OFF, MARK_ON, Roles

Index = QModelIndex | QPersistentModelIndex

BADGES = {  # name: (glyph, colour, tooltip)
    "failed": ("!", "#e5484d", "could not be captioned"),
    "pending": ("…", "#7c7f87", "waiting for a caption"),
    "missing": ("?", "#7c7f87", "the file is gone"),
    "human": ("✎", "#3e8ef7", "edited by a person"),
    "unreviewed": ("●", "#f5a524", "not reviewed yet"),
    "reviewed": ("✓", "#30a46c", "reviewed"),
}


def split_marks(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """Return the snippet without highlight marks, and the (start, length) of each match."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    start = -1
    pos = 0
    for ch in snippet:
        if ch == MARK_ON:
            start = pos
        elif ch == MARK_OFF:
            if start >= 0:
                spans.append((start, pos - start))
            start = -1
        else:
            out.append(ch)
            pos += 1
    return "".join(out), spans


class PhotoDelegate(QStyledItemDelegate):
    """Paint one photo: thumbnail, badges and two lines of caption with search matches."""

    def __init__(self, thumb: int = 168, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb = thumb
        self.lines = 2

    def set_thumb_size(self, thumb: int) -> None:
        """Use thumbnails ``thumb`` pixels wide."""
        self.thumb = thumb

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        """Return the cell size: thumbnail plus two text lines."""
        fm = QFontMetrics(option.font)
        return QSize(self.thumb + 16, int(self.thumb * 0.75) + 18 + fm.lineSpacing() * self.lines)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        """Draw the cell."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = option.palette
        cell = QRectF(option.rect).adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hover:
            colour = pal.color(QPalette.ColorRole.Highlight)
            colour.setAlpha(200 if selected else 60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(cell, 6, 6)
        box = QRectF(cell.x() + 5, cell.y() + 5, cell.width() - 10, self.thumb * 0.75)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            size = pm.size().scaled(box.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF(box.x() + (box.width() - size.width()) / 2,
                            box.y() + (box.height() - size.height()) / 2,
                            size.width(), size.height())
            painter.drawPixmap(target.toRect(), pm)
            photo_rect = target
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            broken = bool(index.data(Roles.ThumbnailFailed))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter,
                             "cannot show this photo" if broken else "…")
            photo_rect = box
        self._paint_badges(painter, photo_rect, index.data(Roles.Badges) or ())
        text_rect = QRectF(cell.x() + 6, box.bottom() + 6, cell.width() - 12,
                           cell.bottom() - box.bottom() - 8)
        colour = pal.color(QPalette.ColorRole.HighlightedText if selected
                           else QPalette.ColorRole.Text)
        caption = index.data(Roles.Snippet) or ""
        if not caption:
            state = index.data(Roles.State)
            caption = {"pending": "waiting for a caption…",
                       "failed": "could not be captioned"}.get(state, "")
            colour = pal.color(QPalette.ColorRole.PlaceholderText)
        self._paint_text(painter, text_rect, caption, option.font, colour)
        painter.restore()

    def _paint_badges(self, painter: QPainter, rect: QRectF, badges: tuple[str, ...]) -> None:
        size = 18.0
        x = rect.right() - 4 - size
        font = QFont(painter.font())
        font.setPixelSize(11)
        font.setBold(True)
        painter.setFont(font)
        for name in badges:
            glyph, colour, _ = BADGES.get(name, ("", "#888888", ""))
            if not glyph:
                continue
            r = QRectF(x, rect.y() + 4, size, size)
            painter.setPen(QPen(QColor(0, 0, 0, 110), 1))
            painter.setBrush(QColor(colour))
            painter.drawEllipse(r)
            painter.setPen(QColor("white"))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, glyph)
            x -= size + 3

    def _paint_text(self, painter: QPainter, rect: QRectF, snippet: str, font: QFont,
                    colour: QColor) -> None:
        text, spans = split_marks(snippet)
        layout = QTextLayout(text, font)
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(QBrush(QColor("#ffcc4d")))
        ranges = []
        for start, length in spans:
            r = QTextLayout.FormatRange()
            r.start, r.length, r.format = start, length, fmt
            ranges.append(r)
        layout.setFormats(ranges)
        fm = QFontMetrics(font)
        lines = []
        y = 0.0
        layout.beginLayout()
        while len(lines) < self.lines:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(rect.width())
            line.setPosition(QPointF(0, y))
            y += line.height()
            lines.append(line)
        layout.endLayout()
        painter.setPen(colour)
        painter.setFont(font)
        for k, line in enumerate(lines):
            last = k == len(lines) - 1
            if last and line.textStart() + line.textLength() < len(text):
                rest = fm.elidedText(text[line.textStart():], Qt.TextElideMode.ElideRight,
                                     int(rect.width()))
                painter.drawText(QRectF(rect.x(), rect.y() + line.y(), rect.width(),
                                        line.height()), Qt.AlignmentFlag.AlignLeft, rest)
            else:
                line.draw(painter, QPointF(rect.x(), rect.y()))


class PhotoGrid(QListView):
    """A thumbnail grid over a :class:`~annotator.gui.models.photos.PhotoListModel`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)  # constant-time layout: 100,000 items scroll smoothly
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(400)
        self.setSpacing(2)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.delegate = PhotoDelegate(parent=self)
        self.setItemDelegate(self.delegate)
        self.setObjectName("photoGrid")

    def set_thumb_size(self, thumb: int) -> None:
        """Show thumbnails ``thumb`` pixels wide."""
        self.delegate.set_thumb_size(thumb)
        self.scheduleDelayedItemsLayout()

    def current_photo_id(self) -> int | None:
        """Return the id of the current photo, if any."""
        idx = self.currentIndex()
        return idx.data(Roles.PhotoId) if idx.isValid() else None

    def select_row(self, row: int) -> bool:
        """Make ``row`` current and selected; return False if there is no such row."""
        model = self.model()
        if model is None or not 0 <= row < model.rowCount():
            return False
        idx = model.index(row, 0)
        self.setCurrentIndex(idx)
        self.scrollTo(idx)
        return True

    def step(self, delta: int) -> bool:
        """Move the current photo by ``delta`` rows (fetching more at the end)."""
        model = self.model()
        if model is None:
            return False
        row = self.currentIndex().row() if self.currentIndex().isValid() else -1
        target = row + delta
        if target >= model.rowCount() and model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
        return self.select_row(max(0, target))

    def visual_rect_of(self, row: int) -> QRect:
        """Return where ``row`` is drawn (for tests and tooltips)."""
        model = self.model()
        return self.visualRect(model.index(row, 0)) if model is not None else QRect()
