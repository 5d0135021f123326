"""Edit the settings: library, model, beam size, device, metadata mode, overwrite policy."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from annotator.core.settings import (
    MAX_BEAM_SIZE,
    Settings,
    default_library_path,
    default_model_path,
)
from annotator.metadata.types import METADATA_MODES, SIDECAR_STYLES, MetadataMode, SidecarStyle

METADATA_LABELS: dict[MetadataMode, str] = {
    "embed": "Write into the photos (XMP + EXIF; a sidecar where that is not possible)",
    "sidecar": "Write XMP sidecar files only (photos untouched)",
    "none": "Keep captions in the library only",
}
SIDECAR_LABELS: dict[SidecarStyle, str] = {"ext-append": "photo.jpg.xmp", "replace": "photo.xmp"}
DEVICES = ("auto", "cpu", "cuda", "mps")


def _path_row(edit: QLineEdit, browse: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return row


class SettingsDialog(QDialog):
    """The settings; ``settings()`` returns what the user chose."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        self.setMinimumWidth(620)

        self.library = QLineEdit(settings.library)
        self.library.setPlaceholderText(str(default_library_path()))
        self.library.setToolTip("A SQLite file, or a postgresql:// URL for a shared library")
        lib_browse = QPushButton("Browse…")
        lib_browse.clicked.connect(self._browse_library)
        self.model = QLineEdit(settings.model)
        self.model.setPlaceholderText(f"default: {default_model_path()}")
        model_browse = QPushButton("Browse…")
        model_browse.clicked.connect(self._browse_model)
        self.beam = QSpinBox()
        self.beam.setRange(1, MAX_BEAM_SIZE)
        self.beam.setValue(settings.beam_size)
        self.beam.setToolTip("Beam search width: larger is slower and gives more alternatives")
        self.device = QComboBox()
        self.device.setEditable(True)
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device or "auto")
        self.device.setToolTip("auto uses a GPU when there is one; cuda:1 picks a GPU")
        self.watch = QCheckBox("Watch the folders and caption new photos as they appear")
        self.watch.setChecked(settings.watch)

        self.metadata = QComboBox()
        for mode in METADATA_MODES:
            self.metadata.addItem(METADATA_LABELS[mode], mode)
        self.metadata.setCurrentIndex(max(0, self.metadata.findData(settings.metadata)))
        self.sidecar = QComboBox()
        for style in SIDECAR_STYLES:
            self.sidecar.addItem(SIDECAR_LABELS[style], style)
        self.sidecar.setCurrentIndex(max(0, self.sidecar.findData(settings.sidecar_style)))
        self.overwrite = QCheckBox("Replace descriptions a person wrote in other software")
        self.overwrite.setChecked(settings.overwrite_human)
        self.overwrite.setToolTip(
            "Off (recommended): such descriptions are kept and imported "
            "into the library as human captions"
        )
        self.metadata.currentIndexChanged.connect(self._update)

        lib_box = QGroupBox("Library")
        f1 = QFormLayout(lib_box)
        f1.addRow("Location", _path_row(self.library, lib_browse))
        f1.addRow("", self.watch)
        cap_box = QGroupBox("Captioning")
        f2 = QFormLayout(cap_box)
        f2.addRow("Model", _path_row(self.model, model_browse))
        f2.addRow("Beam size", self.beam)
        f2.addRow("Device", self.device)
        meta_box = QGroupBox("Photo metadata")
        f3 = QFormLayout(meta_box)
        f3.addRow("Captions", self.metadata)
        f3.addRow("Sidecar name", self.sidecar)
        f3.addRow("", self.overwrite)
        note = QLabel(
            "A new library location takes effect at once (the app reopens it); "
            "model, beam size and device apply from the next batch."
        )
        note.setWordWrap(True)
        note.setObjectName("hint")

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self._restore_defaults
        )
        lay = QVBoxLayout(self)
        lay.addWidget(lib_box)
        lay.addWidget(cap_box)
        lay.addWidget(meta_box)
        lay.addWidget(note)
        lay.addWidget(buttons)
        self._update()

    def _update(self) -> None:
        writes = self.metadata.currentData() != "none"
        self.sidecar.setEnabled(writes)
        self.overwrite.setEnabled(writes)

    def _browse_library(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Library file",
            self.library.text() or str(default_library_path()),
            "Library (*.sqlite3 *.sqlite *.db);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.library.setText(path)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Captioning model",
            self.model.text() or str(default_model_path().parent),
            "Checkpoints (*.safetensors);;All files (*)",
        )
        if path:
            self.model.setText(path)

    def _restore_defaults(self) -> None:
        d = Settings()
        self.library.setText(d.library)
        self.model.setText(d.model)
        self.beam.setValue(d.beam_size)
        self.device.setCurrentText(d.device)
        self.watch.setChecked(d.watch)
        self.metadata.setCurrentIndex(self.metadata.findData(d.metadata))
        self.sidecar.setCurrentIndex(self.sidecar.findData(d.sidecar_style))
        self.overwrite.setChecked(d.overwrite_human)

    def settings(self) -> Settings:
        """Return the settings as edited."""
        return replace(
            self._settings,
            library=self.library.text().strip(),
            model=self.model.text().strip(),
            beam_size=self.beam.value(),
            device=self.device.currentText().strip() or "auto",
            watch=self.watch.isChecked(),
            metadata=cast(MetadataMode, self.metadata.currentData()),
            sidecar_style=cast(SidecarStyle, self.sidecar.currentData()),
            overwrite_human=self.overwrite.isChecked(),
        ).validated()
