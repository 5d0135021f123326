"""Export corrected captions as a training set (Karpathy JSON, JSON Lines, COCO, text files).

Calls :func:`annotator.pipeline.export.export` (the same code as ``annotator export``) on a
background thread. The command line equivalent is shown, so a scripted export
can be copied from the dialog.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.tasks import Tasks
from annotator.library import Library

FORMATS = (
    ("karpathy", "Karpathy JSON (dataset_annotator.json, train/val split) — annotator train"),
    ("jsonl", "JSON Lines (metadata.jsonl) — Hugging Face ImageFolder"),
    ("coco", "COCO captions (captions.json)"),
    ("txt", "One text file per photo (STEM.txt) — diffusion training tools"),
)
WHICH = (
    ("corrected", "Captions people wrote, corrected or accepted"),
    ("reviewed", "Only captions marked reviewed"),
    ("all", "Every caption, unreviewed model captions too"),
)
IMAGES = (
    ("reference", "Refer to the originals"),
    ("copy", "Copy the photos"),
    ("link", "Link the photos"),
)


def run_export(library: Library, fmt: str, out: str, options: dict[str, Any]) -> list[str]:
    """Export with :mod:`annotator.pipeline.export`; return the summary lines (off the GUI)."""
    from annotator.pipeline.export import export

    summary = export(fmt, library, out, **options)
    return list(summary.lines())


class ExportDialog(QDialog):
    """Choose a format, a folder and which captions; export in the background."""

    sig_exported = Signal(list)  # the summary lines

    def __init__(
        self, library: Library, tasks: Tasks, model: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export captions")
        self.setObjectName("exportDialog")
        self.setMinimumWidth(640)
        self.library = library
        self.tasks = tasks
        self.model = model
        self.busy = False

        self.format = QComboBox()
        for key, label in FORMATS:
            self.format.addItem(label, key)
        self.out = QLineEdit()
        self.out.setPlaceholderText("Folder to write into")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.which = QButtonGroup(self)
        which_box = QVBoxLayout()
        for i, (key, label) in enumerate(WHICH):
            b = QRadioButton(label)
            b.setProperty("key", key)
            self.which.addButton(b, i)
            which_box.addWidget(b)
        self.which.button(0).setChecked(True)
        self.images = QComboBox()
        for key, label in IMAGES:
            self.images.addItem(label, key)
        self.val_share = QDoubleSpinBox()
        self.val_share.setRange(0.0, 0.5)
        self.val_share.setSingleStep(0.05)
        self.val_share.setValue(0.1)
        self.val_share.setToolTip("Share of photos in the validation split (by content hash)")
        self.command = QLabel()
        self.command.setObjectName("hint")
        self.command.setWordWrap(True)
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setPlaceholderText("The summary of the export appears here.")
        self.summary.setMaximumHeight(130)

        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Folder", out_row)
        form.addRow("Captions", which_box)
        form.addRow("Photos", self.images)
        form.addRow("Validation share", self.val_share)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.btn_export = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ApplyRole)
        self.btn_export.setObjectName("exportButton")
        self.btn_export.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.command)
        lay.addWidget(self.summary)
        lay.addWidget(self.buttons)
        for sig in (
            self.format.currentIndexChanged,
            self.images.currentIndexChanged,
            self.out.textChanged,
            self.which.idClicked,
            self.val_share.valueChanged,
        ):
            sig.connect(self._update)
        self._update()

    def options(self) -> tuple[str, str, dict[str, Any]]:
        """Return the format, the folder and the export options chosen."""
        fmt = str(self.format.currentData())
        checked = self.which.checkedButton()
        which = checked.property("key") if checked is not None else "all"
        opts: dict[str, Any] = {
            "only_reviewed": which == "reviewed",
            "include_model": which == "all",
            "images": str(self.images.currentData()),
        }
        if self.model:
            opts["model"] = self.model
        if fmt == "karpathy":
            opts["val_share"] = round(self.val_share.value(), 3)
        return fmt, self.out.text().strip(), opts

    def command_line(self) -> str:
        """Return the ``annotator export`` command doing the same."""
        fmt, out, opts = self.options()
        args = ["annotator", "export", "--format", fmt, "--out", out or "DIR"]
        if opts["only_reviewed"]:
            args.append("--only-reviewed")
        if opts["include_model"]:
            args.append("--all")
        if opts["images"] == "copy":
            args.append("--copy-images")
        elif opts["images"] == "link":
            args.append("--link-images")
        if fmt == "karpathy" and opts.get("val_share") != 0.1:
            args += ["--val-share", str(opts["val_share"])]
        if self.library.path is not None:
            args += ["--library", str(self.library.path)]
        return shlex.join(args)

    def _update(self) -> None:
        fmt = self.format.currentData()
        self.val_share.setEnabled(fmt == "karpathy")
        self.btn_export.setEnabled(bool(self.out.text().strip()) and not self.busy)
        self.command.setText(f"Command line: <code>{self.command_line()}</code>")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.out.text())
        if folder:
            self.out.setText(folder)

    def start_export(self) -> None:
        """Run the export in the background; the summary appears in the dialog."""
        fmt, out, opts = self.options()
        if not out or self.busy:
            return
        self.busy = True
        self._update()
        self.summary.setPlainText(f"Exporting to {Path(out)}…")
        library = self.library
        self.tasks.submit(lambda: run_export(library, fmt, out, opts), self._done, self._failed)

    def _done(self, lines: list[str]) -> None:
        self.busy = False
        self._update()
        self.summary.setPlainText("\n".join(lines))
        self.sig_exported.emit(lines)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self._update()
        self.summary.setPlainText(f"Export failed: {exc}")
        self.sig_exported.emit([])
