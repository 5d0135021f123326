"""Show photos as a thumbnail grid with badges and highlighted captions."""

from __future__ import annotations

import time
from collections import OrderedDict

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextLayout,
    QTextLine,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from annotator.gui.models.photos import MARK_OFF, MARK_ON, PhotoListModel, Roles

Index = QModelIndex | QPersistentModelIndex

PAINT_BUDGET = 0.025  # seconds of cell drawing per repaint; the rest follows at once

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


def _index(persistent: QPersistentModelIndex) -> QModelIndex:
    """Return the model index a persistent index points at now (invalid if none)."""
    if not persistent.isValid():
        return QModelIndex()
    return persistent.model().index(persistent.row(), persistent.column(), persistent.parent())


class PhotoDelegate(QStyledItemDelegate):
    """Paint one photo: thumbnail, badges and two lines of caption with search matches."""

    def __init__(self, thumb: int = 168, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb = thumb
        self.lines = 2
        self.capacity = 800  # rendered cells kept (a few screens' worth)
        self._cells: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._last: dict[int, QPixmap] = {}  # the latest cell drawn for each photo
        self._fitted_cache: OrderedDict[tuple, QPixmap] = OrderedDict()

    def set_thumb_size(self, thumb: int) -> None:
        """Use thumbnails ``thumb`` pixels wide."""
        self.thumb = thumb
        self._cells.clear()
        self._last.clear()
        self._fitted_cache.clear()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        """Return the cell size: thumbnail plus two text lines."""
        fm = QFontMetrics(option.font)
        return QSize(self.thumb + 16, int(self.thumb * 0.75) + 18 + fm.lineSpacing() * self.lines)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        """Draw the cell (the grid itself paints cells in one pass, see PhotoGrid.paintEvent)."""
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        pm = pm if isinstance(pm, QPixmap) and not pm.isNull() else None
        widget = option.widget
        cell = self.cell(
            index.data(Roles.PhotoId),
            pm,
            index.data(Roles.Badges) or (),
            index.data(Roles.Snippet) or "",
            index.data(Roles.State),
            pm is None and bool(index.data(Roles.ThumbnailFailed)),
            option.rect.size(),
            widget.devicePixelRatioF() if widget is not None else 1.0,
            bool(option.state & QStyle.StateFlag.State_Selected),
            bool(option.state & QStyle.StateFlag.State_MouseOver),
            option.palette,
            option.font,
        )
        if cell is not None:
            painter.drawPixmap(option.rect.topLeft(), cell)

    def cell(
        self,
        photo_id: int,
        pm: QPixmap | None,
        badges: tuple[str, ...],
        snippet: str,
        state: str | None,
        broken: bool,
        size: QSize,
        ratio: float,
        selected: bool,
        hover: bool,
        palette: QPalette,
        font: QFont,
        *,
        render: bool = True,
    ) -> QPixmap | None:
        """Return the rendered cell of a photo, from the cache when it has not changed.

        With ``render=False`` a cell that is not cached is not drawn: the last one
        drawn for this photo is returned instead (or None), for a later repaint.
        """
        key = (
            photo_id,
            size.width(),
            size.height(),
            ratio,
            selected,
            hover,
            pm.cacheKey() if pm is not None else 0,
            broken,
            badges,
            snippet,
            state,
            self.thumb,
            font.key(),
            palette.cacheKey(),
        )
        cell = self._cells.get(key)
        if cell is not None:
            self._cells.move_to_end(key)
            return cell
        if not render:
            return self._last.get(photo_id)
        cell = QPixmap(size * ratio)
        cell.setDevicePixelRatio(ratio)
        cell.fill(Qt.GlobalColor.transparent)
        p = QPainter(cell)
        opt = QStyleOptionViewItem()
        opt.rect = QRect(0, 0, size.width(), size.height())
        opt.palette = palette
        opt.font = font
        self._render(
            p, opt, self._fitted(pm, ratio), badges, snippet, state, broken, selected, hover
        )
        p.end()
        self._cells[key] = cell
        self._last[photo_id] = cell
        while len(self._cells) > self.capacity:
            self._cells.popitem(last=False)
        while len(self._last) > self.capacity:
            self._last.pop(next(iter(self._last)))
        return cell

    def _fitted(self, pm: QPixmap | None, ratio: float) -> QPixmap | None:
        """Return ``pm`` scaled (smoothly, once) to fit the thumbnail box."""
        if pm is None:
            return None
        box = QSize(self.thumb + 6, int(self.thumb * 0.75))
        key = (pm.cacheKey(), box.width(), box.height(), ratio)
        fitted = self._fitted_cache.get(key)
        if fitted is None:
            fitted = pm.scaled(
                box * ratio,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            fitted.setDevicePixelRatio(ratio)
            self._fitted_cache[key] = fitted
            while len(self._fitted_cache) > self.capacity:
                self._fitted_cache.popitem(last=False)
        return fitted

    def _render(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        pm: QPixmap | None,
        badges: tuple[str, ...],
        snippet: str,
        state: str | None,
        broken: bool,
        selected: bool,
        hover: bool,
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = option.palette
        cell = QRectF(option.rect).adjusted(3, 3, -3, -3)
        if selected or hover:
            colour = pal.color(QPalette.ColorRole.Highlight)
            colour.setAlpha(200 if selected else 60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(cell, 6, 6)
        box = QRectF(cell.x() + 5, cell.y() + 5, cell.width() - 10, self.thumb * 0.75)
        if pm is not None:
            size = (
                pm.deviceIndependentSize()
                .toSize()
                .scaled(box.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio)
            )
            target = QRectF(
                box.x() + (box.width() - size.width()) / 2,
                box.y() + (box.height() - size.height()) / 2,
                size.width(),
                size.height(),
            )
            painter.drawPixmap(target.toRect(), pm)
            photo_rect = target
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                box, Qt.AlignmentFlag.AlignCenter, "cannot show this photo" if broken else "…"
            )
            photo_rect = box
        self._paint_badges(painter, photo_rect, badges)
        text_rect = QRectF(
            cell.x() + 6, box.bottom() + 6, cell.width() - 12, cell.bottom() - box.bottom() - 8
        )
        colour = pal.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        caption = snippet
        if not caption:
            caption = {"pending": "waiting for a caption…", "failed": "could not be captioned"}.get(
                state or "", ""
            )
            colour = pal.color(QPalette.ColorRole.PlaceholderText)
        self._paint_text(painter, text_rect, caption, option.font, colour)

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

    def _paint_text(
        self, painter: QPainter, rect: QRectF, snippet: str, font: QFont, colour: QColor
    ) -> None:
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
        keywords_at = text.find("\u2028")  # the keyword line (see PhotoRow.shown_text)
        if keywords_at >= 0:
            kw = QTextLayout.FormatRange()
            kw.start, kw.length = keywords_at + 1, len(text) - keywords_at - 1
            kw.format = QTextCharFormat()
            kw.format.setForeground(QBrush(QColor("#8fb3e0")))
            ranges.append(kw)
        layout.setFormats(ranges)
        fm = QFontMetrics(font)
        lines: list[QTextLine] = []
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
                rest = fm.elidedText(
                    text[line.textStart() :].split("\u2028")[0],  # not the keyword line
                    Qt.TextElideMode.ElideRight,
                    int(rect.width()),
                )
                painter.drawText(
                    QRectF(rect.x(), rect.y() + line.y(), rect.width(), line.height()),
                    Qt.AlignmentFlag.AlignLeft,
                    rest,
                )
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
        self._hover = QPersistentModelIndex()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint every visible cell in one pass.

        Qt would call the delegate once per cell, entering Python (and waiting for
        the GIL, which the indexing threads hold often) for each; one entry per
        repaint keeps the GUI thread responsive while indexing runs. Cells are
        cached; when many change at once, those not drawn within PAINT_BUDGET keep
        their previous picture until the next pass, a moment later.
        """
        model = self.model()
        if not isinstance(model, PhotoListModel) or model.rowCount() == 0:
            super().paintEvent(event)
            return
        area = event.rect()
        n = model.rowCount()
        lo, hi = 0, n  # first row whose cell reaches the top of the area
        while lo < hi:
            mid = (lo + hi) // 2
            if self.visualRect(model.index(mid, 0)).bottom() < area.top():
                lo = mid + 1
            else:
                hi = mid
        painter = QPainter(self.viewport())
        selection = self.selectionModel()
        ratio = self.viewport().devicePixelRatioF()
        palette, font = self.palette(), self.font()
        thumbs = model.thumbnails
        hover_row = self._hover.row() if self._hover.isValid() else -1
        deadline = time.perf_counter() + PAINT_BUDGET
        behind = False
        for i in range(lo, n):
            idx = model.index(i, 0)
            rect = self.visualRect(idx)
            if rect.top() > area.bottom():
                break
            if not rect.intersects(area):
                continue
            r = model.row(i)
            path = str(r.path)
            pm = thumbs.pixmap(path) if thumbs is not None else None
            broken = pm is None and thumbs is not None and thumbs.failed(path)
            render = time.perf_counter() < deadline
            cell = self.delegate.cell(
                r.photo_id,
                pm,
                r.badges,
                r.shown_text,
                r.state,
                broken,
                rect.size(),
                ratio,
                selection.isSelected(idx),
                i == hover_row,
                palette,
                font,
                render=render,
            )
            if not render:
                behind = True
            if cell is not None:
                painter.drawPixmap(rect.topLeft(), cell)
        painter.end()
        if behind:  # the rest next time round the event loop: input stays responsive
            QTimer.singleShot(0, self.viewport().update)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Track the cell under the pointer for the hover highlight."""
        idx = self.indexAt(event.position().toPoint())
        if idx != _index(self._hover):
            old = _index(self._hover)
            self._hover = QPersistentModelIndex(idx)
            for changed in (old, idx):
                if changed.isValid():
                    self.viewport().update(self.visualRect(changed))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        """Drop the hover highlight."""
        old = _index(self._hover)
        self._hover = QPersistentModelIndex()
        if old.isValid():
            self.viewport().update(self.visualRect(old))
        super().leaveEvent(event)

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
