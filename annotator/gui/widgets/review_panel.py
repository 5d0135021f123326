"""Review one photo: large view with attention heatmaps, clickable caption words, n-best, edits.

The panel keeps a draft per photo. Picking an alternative, editing (F2) and
reverting to the model's caption change the draft through a per-photo
QUndoStack (so Ctrl+Z / Ctrl+Y walk the edits); accepting (Ctrl+Enter) asks the
main window to store the draft as the reviewed caption.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QImage,
    QKeyEvent,
    QPixmap,
    QUndoCommand,
    QUndoGroup,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.images import load_photo
from annotator.gui.tasks import Tasks
from annotator.gui.widgets.keyword_chips import KeywordChips
from annotator.gui.widgets.photo_view import PhotoView
from annotator.gui.widgets.word_strip import WordStrip
from annotator.library import Library
from annotator.pipeline.review import (
    CaptionDetails,
    add_keyword,
    attention_map,
    load_details,
    remove_keyword,
)

MAX_ALTERNATIVES = 5

LOW_CONFIDENCE = math.log(0.25)  # words the model gave less than 25 % are marked


class CaptionEditor(QPlainTextEdit):
    """Edit the caption: Enter keeps the edit, Ctrl+Enter accepts it, Esc cancels."""

    sig_commit = Signal()
    sig_accept = Signal()
    sig_cancel = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Handle Enter, Ctrl+Enter and Esc; everything else edits."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.sig_accept.emit()
            else:
                self.sig_commit.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.sig_cancel.emit()
            return
        super().keyPressEvent(event)


class SetDraft(QUndoCommand):
    """Change a photo's draft caption (undoable)."""

    def __init__(self, panel: ReviewPanel, photo_id: int, old: str, new: str, label: str) -> None:
        super().__init__(label)
        self.panel, self.photo_id, self.old, self.new = panel, photo_id, old, new

    def redo(self) -> None:
        """Apply the new text."""
        self.panel.apply_draft(self.photo_id, self.new)

    def undo(self) -> None:
        """Put the old text back."""
        self.panel.apply_draft(self.photo_id, self.old)


class ReviewPanel(QWidget):
    """The selected photo large, its caption as words with heatmaps, n-best and editing."""

    sig_accept = Signal(int, str)  # photo id, text: the main window stores it
    sig_navigate = Signal(int)  # -1 previous, +1 next
    sig_loaded = Signal(int)  # the caption details of this photo are shown
    sig_photo_shown = Signal(int)  # the photo's pixels are shown
    sig_overlay_changed = Signal(str)
    sig_draft_changed = Signal(str)

    def __init__(
        self, library: Library, tasks: Tasks, undo_group: QUndoGroup, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.tasks = tasks
        self.undo_group = undo_group
        self.photo_id: int | None = None
        self.details: CaptionDetails | None = None
        self._drafts: dict[int, str] = {}
        self._stacks: dict[int, QUndoStack] = {}
        self._active_word = -1
        self._hover_word = -1
        self._words: list[str] = []
        self._build()
        self.show_photo(None)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.setObjectName("reviewPanel")
        self.header = QLabel()
        self.header.setObjectName("photoHeader")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = PhotoView(self)
        self.view.sig_overlay_changed.connect(self.sig_overlay_changed)

        self.words = WordStrip(self)
        self.words.sig_word_clicked.connect(self.select_word)
        self.words.sig_word_hovered.connect(self.hover_word)
        self.editor = CaptionEditor(self)
        self.editor.setObjectName("captionEditor")
        self.editor.setPlaceholderText("Describe the photo")
        self.editor.setFixedHeight(64)
        self.editor.sig_commit.connect(self.commit_edit)
        self.editor.sig_accept.connect(self.accept)
        self.editor.sig_cancel.connect(self.cancel_edit)
        self.caption_stack = QStackedWidget(self)
        self.caption_stack.addWidget(self.words)
        self.caption_stack.addWidget(self.editor)

        self.info = QLabel()
        self.info.setObjectName("captionInfo")
        self.info.setWordWrap(True)
        self.keywords = KeywordChips(self)
        self.keywords.sig_add.connect(self.add_keyword)
        self.keywords.sig_remove.connect(self.remove_keyword)

        self.alternatives = QListWidget(self)
        self.alternatives.setObjectName("alternatives")
        self.alternatives.setMaximumHeight(124)
        self.alternatives.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.alternatives.itemClicked.connect(
            lambda item: self.pick_alternative(self.alternatives.row(item))
        )
        alt_title = QLabel("Alternatives  <span style='color:#8b8d94'>(keys 1–5)</span>")

        self.btn_prev = QPushButton("◀")
        self.btn_prev.setToolTip("Previous photo (Ctrl+Up)")
        self.btn_prev.clicked.connect(lambda: self.sig_navigate.emit(-1))
        self.btn_next = QPushButton("▶")
        self.btn_next.setToolTip("Next photo (Ctrl+Down)")
        self.btn_next.clicked.connect(lambda: self.sig_navigate.emit(1))
        self.btn_edit = QPushButton("Edit")
        self.btn_edit.setToolTip("Edit the caption (F2)")
        self.btn_edit.clicked.connect(self.begin_edit)
        self.btn_revert = QPushButton("Revert to model")
        self.btn_revert.setToolTip("Put the model's caption back in the draft")
        self.btn_revert.clicked.connect(self.revert_to_model)
        self.btn_accept = QPushButton("Accept")
        self.btn_accept.setObjectName("acceptButton")
        self.btn_accept.setToolTip("Store this caption as reviewed (Ctrl+Enter)")
        self.btn_accept.clicked.connect(self.accept)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(self.view.opacity * 100))
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(lambda v: self.view.set_opacity(v / 100))

        buttons = QHBoxLayout()
        buttons.addWidget(self.btn_prev)
        buttons.addWidget(self.btn_next)
        buttons.addSpacing(8)
        buttons.addWidget(self.btn_edit)
        buttons.addWidget(self.btn_revert)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Heatmap"))
        buttons.addWidget(self.opacity)
        buttons.addWidget(self.btn_accept)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setObjectName("separator")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        lay.addWidget(self.header)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.caption_stack)
        lay.addWidget(self.info)
        lay.addWidget(self.keywords)
        lay.addWidget(line)
        lay.addWidget(alt_title)
        lay.addWidget(self.alternatives)
        lay.addLayout(buttons)

    # ------------------------------------------------------------------ loading

    def show_photo(self, photo_id: int | None) -> None:
        """Show photo ``photo_id`` (None: nothing); details and pixels load in the background."""
        if self.editing:
            self.commit_edit()
        self._drop_unused_stack(self.photo_id)
        self.photo_id = photo_id
        self.details = None
        self._active_word = -1
        self.view.set_attention("", None)
        self.view.set_photo(None, "Loading…" if photo_id is not None else "No photo selected")
        stack = self._stack(photo_id) if photo_id is not None else None
        self.undo_group.setActiveStack(stack)  # type: ignore[arg-type]  # None: no stack
        if photo_id is None:
            self.header.setText("")
            self._show_caption()
            return
        self.reload()
        library = self.library
        self.tasks.submit(lambda: library.photo(photo_id), self._load_pixels)

    def reload(self) -> None:
        """Read the current photo's captions again (after an accept or a new caption)."""
        pid = self.photo_id
        if pid is None:
            return
        library = self.library
        self.tasks.submit(lambda: load_details(library, pid), lambda d: self._on_details(pid, d))

    def _load_pixels(self, photo: object) -> None:
        pid = getattr(photo, "id", None)
        if pid is None or pid != self.photo_id:
            return
        path: Path = photo.path  # type: ignore[attr-defined]
        self.tasks.submit(
            lambda: load_photo(path),
            lambda img: self._on_image(pid, img),
            lambda exc: self._on_image_error(pid, exc),
        )

    def _on_image(self, pid: int, image: QImage) -> None:
        if pid != self.photo_id:
            return
        self.view.set_photo(QPixmap.fromImage(image))
        self.sig_photo_shown.emit(pid)

    def _on_image_error(self, pid: int, exc: BaseException) -> None:
        if pid == self.photo_id:
            self.view.set_photo(None, f"Cannot show this photo:\n{exc}")

    def _on_details(self, pid: int, details: CaptionDetails | None) -> None:
        if pid != self.photo_id:
            return
        self.details = details
        if details is not None:
            p = details.photo
            size = f" · {p.width}×{p.height}" if p.width and p.height else ""
            self.header.setText(
                f"<b>{p.path.name}</b><span style='color:#8b8d94'>{size} · {p.path.parent}</span>"
            )
            self.header.setToolTip(str(p.path))
        self._show_caption()
        self.sig_loaded.emit(pid)

    def _drop_unused_stack(self, photo_id: int | None) -> None:
        """Forget the undo stack of a photo that was only looked at (no edits)."""
        stack = self._stacks.get(photo_id) if photo_id is not None else None
        if stack is not None and stack.count() == 0:
            self.undo_group.removeStack(stack)
            del self._stacks[photo_id]  # type: ignore[arg-type]
            stack.deleteLater()

    def _stack(self, photo_id: int) -> QUndoStack:
        stack = self._stacks.get(photo_id)
        if stack is None:
            stack = QUndoStack(self)
            self.undo_group.addStack(stack)
            self._stacks[photo_id] = stack
        return stack

    # ------------------------------------------------------------------ caption view

    @property
    def current_text(self) -> str:
        """Return the stored current caption ("" if none)."""
        d = self.details
        return d.caption.text if d is not None and d.caption is not None else ""

    @property
    def draft(self) -> str:
        """Return the caption being reviewed: the draft if any, else the current caption."""
        if self.photo_id is not None and self.photo_id in self._drafts:
            return self._drafts[self.photo_id]
        return self.current_text

    @property
    def has_draft(self) -> bool:
        """Return whether the shown caption differs from the stored one."""
        return self.photo_id is not None and self.photo_id in self._drafts

    @property
    def editing(self) -> bool:
        """Return whether the caption editor is open."""
        return self.caption_stack.currentWidget() is self.editor

    def _show_caption(self) -> None:
        d = self.details
        text = self.draft
        self._words = text.split()
        low: list[bool] = []
        if d is not None and d.model_caption is not None and text == d.model_text:
            lp = d.model_caption.word_logprobs
            low = [
                i < len(lp) and math.isfinite(lp[i]) and lp[i] < LOW_CONFIDENCE
                for i in range(len(self._words))
            ]
        self.words.set_words(self._words, low)
        self.keywords.set_keywords(d.keywords if d is not None else ())
        self.keywords.setEnabled(d is not None)
        self._active_word = -1
        self.view.set_attention("", None)
        self._show_info()
        self._show_alternatives()
        enabled = d is not None
        for b in (self.btn_edit, self.btn_accept):
            b.setEnabled(enabled)
        model_text = d.model_text if d is not None else ""
        self.btn_revert.setEnabled(enabled and bool(model_text) and text != model_text)
        self.sig_draft_changed.emit(text)

    def _show_info(self) -> None:
        d = self.details
        if d is None:
            self.info.setText("")
            return
        if d.caption is None:
            state = {
                "pending": "Waiting for a caption.",
                "failed": "Could not be captioned: see Failures.",
            }
            self.info.setText(state.get(d.photo.state.value, "No caption yet."))
            return
        c = d.caption
        parts = [
            "<b>Edited by a person</b>"
            if c.source.value == "human"
            else f"Model caption <span style='color:#8b8d94'>({c.model_id or 'model'})</span>"
        ]
        if c.confidence is not None and math.isfinite(c.confidence):
            parts.append(f"confidence {math.exp(c.confidence):.0%}")
        parts.append(
            "<span style='color:#30a46c'>✓ reviewed</span>"
            if c.reviewed
            else "<span style='color:#f5a524'>● not reviewed</span>"
        )
        if self.has_draft:
            parts.append(
                "<span style='color:#3e8ef7'><b>draft, not saved</b> — Ctrl+Enter accepts</span>"
            )
        self.info.setText(" · ".join(parts))

    def _show_alternatives(self) -> None:
        self.alternatives.clear()
        d = self.details
        if d is None or d.model_caption is None:
            return
        draft = self.draft
        for i, alt in enumerate(d.model_caption.alternatives[:MAX_ALTERNATIVES]):
            mark = "✓" if alt.text == draft else " "
            score = f"{alt.score:.2f}" if math.isfinite(alt.score) else ""
            item = QListWidgetItem(f"{i + 1}  {mark} {alt.text}    {score}")
            item.setToolTip(f"Use this caption (key {i + 1}); log-probability {score}")
            self.alternatives.addItem(item)

    # ------------------------------------------------------------------ attention

    def add_keyword(self, text: str) -> None:
        """Store a keyword a person typed (a human keyword; written into the photo on accept)."""
        pid, library = self.photo_id, self.library
        if pid is not None:
            self.tasks.submit(lambda: add_keyword(library, pid, text), lambda _: self.reload())

    def remove_keyword(self, word: str) -> None:
        """Remove a keyword as a person asked (no later run brings it back)."""
        pid, library = self.photo_id, self.library
        if pid is not None:
            self.tasks.submit(lambda: remove_keyword(library, pid, word), lambda _: self.reload())

    def select_word(self, index: int) -> None:
        """Pin the heatmap of the ``index``-th word (the same word again unpins it)."""
        if index == self._active_word:
            index = -1
        self._active_word = index
        self.words.set_active(index)
        self._show_word(index)

    def hover_word(self, index: int) -> None:
        """Preview the heatmap of the word under the pointer (-1: back to the pinned one)."""
        self._hover_word = index
        self.words.set_hover(index)
        self._show_word(index if index >= 0 else self._active_word)

    def _show_word(self, index: int) -> None:
        if index < 0 or index >= len(self._words):
            self.view.set_attention("", None)
            return
        att = attention_map(self.details.attention if self.details else None, self._words, index)
        self.view.set_attention(self._words[index], att)

    # ------------------------------------------------------------------ drafts

    def apply_draft(self, photo_id: int, text: str) -> None:
        """Make ``text`` the draft of ``photo_id`` (called by undo commands)."""
        stored = self.current_text if photo_id == self.photo_id else None
        if stored is not None and text == stored:
            self._drafts.pop(photo_id, None)
        else:
            self._drafts[photo_id] = text
        if photo_id == self.photo_id:
            self._show_caption()

    def set_draft(self, text: str, label: str = "Edit caption") -> bool:
        """Change the current photo's draft to ``text`` (undoable); return if it changed."""
        text = " ".join(text.split())
        if self.photo_id is None or not text or text == self.draft:
            return False
        self._stack(self.photo_id).push(SetDraft(self, self.photo_id, self.draft, text, label))
        return True

    def pick_alternative(self, i: int) -> bool:
        """Use the ``i``-th n-best caption (0-based) as the draft."""
        d = self.details
        if d is None or d.model_caption is None or self.editing:
            return False
        alts = d.model_caption.alternatives[:MAX_ALTERNATIVES]
        if not 0 <= i < len(alts):
            return False
        return self.set_draft(alts[i].text, f"Use alternative {i + 1}")

    def revert_to_model(self) -> bool:
        """Put the model's caption back in the draft."""
        d = self.details
        if d is None or not d.model_text:
            return False
        if self.editing:
            self.cancel_edit()
        return self.set_draft(d.model_text, "Revert to the model's caption")

    def begin_edit(self) -> None:
        """Open the editor on the draft (F2)."""
        if self.details is None:
            return
        self.editor.setPlainText(self.draft)
        self.caption_stack.setCurrentWidget(self.editor)
        self.editor.setFocus()
        self.editor.selectAll()

    def commit_edit(self) -> None:
        """Keep the editor's text as the draft and close the editor."""
        if not self.editing:
            return
        text = self.editor.toPlainText()
        self.caption_stack.setCurrentWidget(self.words)
        self.set_draft(text)

    def cancel_edit(self) -> None:
        """Close the editor without changing the draft."""
        self.caption_stack.setCurrentWidget(self.words)

    def accept(self) -> None:
        """Ask for the draft to be stored as the reviewed caption (Ctrl+Enter)."""
        if self.editing:
            self.commit_edit()
        if self.photo_id is None or self.details is None or not self.draft:
            return
        self.sig_accept.emit(self.photo_id, self.draft)

    def accepted(self, photo_id: int) -> None:
        """Forget the stored draft of ``photo_id`` and show its new caption."""
        self._drafts.pop(photo_id, None)
        if photo_id == self.photo_id:
            self.reload()
