"""The caption as a wrapping row of words: click or hover one to see its heatmap."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QEnterEvent, QMouseEvent
from PySide6.QtWidgets import QLabel, QWidget

from annotator.gui.widgets.flow import FlowLayout


class WordChip(QLabel):
    """One caption word: click it (or hover) to see where the model looked."""

    def __init__(self, text: str, index: int, strip: WordStrip) -> None:
        super().__init__(text, strip)
        self.index = index
        self.strip = strip
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setObjectName("wordChip")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Pin this word's heatmap."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.strip.sig_word_clicked.emit(self.index)
        super().mousePressEvent(event)

    def enterEvent(self, event: QEnterEvent) -> None:
        """Preview this word's heatmap."""
        self.strip.sig_word_hovered.emit(self.index)
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        """Go back to the pinned word."""
        self.strip.sig_word_hovered.emit(-1)
        super().leaveEvent(event)


class WordStrip(QWidget):
    """The caption as a wrapping row of clickable words."""

    sig_word_clicked = Signal(int)
    sig_word_hovered = Signal(int)  # -1: the pointer left the words

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = FlowLayout(self, spacing=2)
        self.chips: list[WordChip] = []
        self._low: list[bool] = []
        self._active = -1
        self._hover = -1

    def set_words(self, words: list[str], low: list[bool] | None = None) -> None:
        """Show ``words``; ``low`` marks the ones the model was unsure of."""
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = [WordChip(w, i, self) for i, w in enumerate(words)]
        self._low = list(low) if low is not None else [False] * len(words)
        for chip in self.chips:
            self._layout.addWidget(chip)
            chip.show()
        self._active = -1
        self._restyle()
        self.updateGeometry()

    def set_active(self, index: int) -> None:
        """Highlight the word whose heatmap is pinned (-1: none)."""
        self._active = index
        self._restyle()

    def set_hover(self, index: int) -> None:
        """Highlight the word under the pointer (-1: none)."""
        self._hover = index
        self._restyle()

    def _restyle(self) -> None:
        for i, chip in enumerate(self.chips):
            if i == self._active:
                style = "background:#f5a524; color:#111;"
            elif i == self._hover:
                style = "background:rgba(245,165,36,0.35);"
            else:
                style = "background:transparent;"
            if i < len(self._low) and self._low[i]:
                style += "border-bottom:2px dotted #e5484d;"
                chip.setToolTip("the model was unsure of this word")
            chip.setStyleSheet(
                f"QLabel#wordChip {{ {style} padding:2px 4px; border-radius:4px; font-size:15px; }}"
            )

    def hasHeightForWidth(self) -> bool:
        """Return True: the words wrap."""
        return True

    def heightForWidth(self, width: int) -> int:
        """Return the height of the wrapped words."""
        return self._layout.heightForWidth(width)
