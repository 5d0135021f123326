"""Show a photo's keywords as chips: remove one with its ×, type a new one and press Enter."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLineEdit, QToolButton, QWidget

from annotator.gui.widgets.flow import FlowLayout
from annotator.library import KeywordInfo


def chip_tooltip(keyword: KeywordInfo) -> str:
    """Return what a chip's tooltip says: hierarchy, who gave it, how sure the model was."""
    path = " › ".join(keyword.hierarchy) if keyword.hierarchy else keyword.word
    if keyword.source == "human":
        where = "typed here" if keyword.origin in ("gui", "cli") else f"from {keyword.origin}"
        return f"{path}\nA person's keyword ({where})"
    sure = f", {keyword.probability:.0%} sure" if keyword.probability is not None else ""
    return f"{path}\nThe model's keyword ({keyword.model_version or 'model'}{sure})"


class KeywordChips(QWidget):
    """The keywords of one photo as removable chips, and a field to add one."""

    sig_add = Signal(str)  # text a person typed (a word, or a hierarchy A|B|C)
    sig_remove = Signal(str)  # the word of the chip whose × was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keywordChips")
        self.flow = FlowLayout(self, spacing=4)
        self.chips: list[QToolButton] = []
        self.editor = QLineEdit(self)
        self.editor.setObjectName("keywordEditor")
        self.editor.setPlaceholderText("Add keyword…")
        self.editor.setFixedWidth(120)
        self.editor.setToolTip("Type a keyword (or a hierarchy such as Places|Paris), then Enter")
        self.editor.returnPressed.connect(self._add)
        self.flow.addWidget(self.editor)

    def set_keywords(self, keywords: list[KeywordInfo] | tuple[KeywordInfo, ...]) -> None:
        """Show ``keywords`` (a person's first, as the library orders them)."""
        for chip in self.chips:
            self.flow.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        self.flow.removeWidget(self.editor)
        for keyword in keywords:
            chip = QToolButton(self)
            chip.setObjectName("humanChip" if keyword.source == "human" else "modelChip")
            chip.setText(f"{keyword.word}  ×")
            chip.setToolTip(chip_tooltip(keyword) + "\nClick to remove")
            chip.setAutoRaise(False)
            chip.clicked.connect(lambda _=False, w=keyword.word: self.sig_remove.emit(w))
            self.flow.addWidget(chip)
            self.chips.append(chip)
        self.flow.addWidget(self.editor)
        self.updateGeometry()

    def words(self) -> list[str]:
        """Return the words of the chips shown, in order."""
        return [c.text().removesuffix("  ×") for c in self.chips]

    def _add(self) -> None:
        text = self.editor.text().strip()
        if text:
            self.editor.clear()
            self.sig_add.emit(text)
