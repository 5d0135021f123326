"""Show a photo fitted to the widget with one word's attention heatmap over it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from annotator.gui.images import heatmap

OVERLAY_SIDE = 480  # the heatmap is computed at this size and scaled smoothly when drawn


class PhotoView(QWidget):
    """Show a photo fitted to the widget, with one word's attention heatmap over it."""

    sig_overlay_changed = Signal(str)  # the word whose heatmap is shown ("" for none)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._message = "No photo selected"
        self._att: np.ndarray | None = None
        self.overlay: QImage | None = None
        self.overlay_word = ""
        self._scaled: QPixmap | None = None  # the photo at its drawn size
        self._scaled_overlay: QPixmap | None = None
        self.opacity = 0.65
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setObjectName("photoView")

    @property
    def has_photo(self) -> bool:
        """Return whether a photo is shown."""
        return self._pixmap is not None

    def set_photo(self, pixmap: QPixmap | None, message: str = "") -> None:
        """Show ``pixmap`` (or ``message`` when None); keeps the current heatmap's word."""
        self._pixmap = pixmap
        self._message = message
        self._scaled = None
        if self._att is not None:
            self._make_overlay()
        self.update()

    def set_attention(self, word: str, att: np.ndarray | None) -> None:
        """Overlay ``att`` (an (H, W) map) labelled ``word``; None removes the overlay."""
        self._att = att
        self.overlay_word = word if att is not None else ""
        self._make_overlay()
        self.update()
        self.sig_overlay_changed.emit(self.overlay_word)

    def set_opacity(self, opacity: float) -> None:
        """Set the heatmap's opacity (0 to 1)."""
        self.opacity = max(0.0, min(1.0, opacity))
        self._make_overlay()
        self.update()

    def _make_overlay(self) -> None:
        self._scaled_overlay = None
        if self._att is None:
            self.overlay = None
            return
        if self._pixmap is not None:
            w, h = self._pixmap.width(), self._pixmap.height()
        else:
            w, h = 4, 3
        scale = OVERLAY_SIDE / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        self.overlay = heatmap(self._att, size, opacity=self.opacity)

    def photo_rect(self) -> QRectF:
        """Return where the photo is drawn (fitted, centred)."""
        area = QRectF(self.rect()).adjusted(6, 6, -6, -6)
        if self._pixmap is None:
            return area
        size = self._pixmap.size().scaled(area.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRectF(
            area.x() + (area.width() - size.width()) / 2,
            area.y() + (area.height() - size.height()) / 2,
            size.width(),
            size.height(),
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the photo, the heatmap and the word it belongs to."""
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#15161a"))
        if self._pixmap is None:
            p.setPen(QColor("#8b8d94"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
            return
        target = self.photo_rect()
        ratio = self.devicePixelRatioF()
        size = (target.size() * ratio).toSize()
        if self._scaled is None or self._scaled.size() != size:  # scale once per size
            self._scaled = self._pixmap.scaled(
                size,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self._scaled.setDevicePixelRatio(ratio)
            self._scaled_overlay = None
        p.drawPixmap(target.topLeft(), self._scaled)
        if self.overlay is not None:
            if self._scaled_overlay is None or self._scaled_overlay.size() != size:
                self._scaled_overlay = QPixmap.fromImage(
                    self.overlay.scaled(
                        size,
                        Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
                self._scaled_overlay.setDevicePixelRatio(ratio)
            p.drawPixmap(target.topLeft(), self._scaled_overlay)
        if self.overlay_word:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.05)
            p.setFont(font)
            label = f"attention: “{self.overlay_word}”"
            w = p.fontMetrics().horizontalAdvance(label) + 20
            h = p.fontMetrics().height() + 8
            box = QRectF(target.x() + 10, target.bottom() - h - 10, w, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 170))
            p.drawRoundedRect(box, h / 2, h / 2)
            p.setPen(QColor("white"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def sizeHint(self) -> QSize:
        """Return a comfortable size."""
        return QSize(640, 480)
