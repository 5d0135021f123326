"""Keep the app's settings (library, model, decoding, device, metadata policy) in QSettings."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from PySide6.QtCore import QSettings

from annotator.pipeline.runner import IndexSettings

METADATA_MODES = ("embed", "sidecar", "none")
SIDECAR_STYLES = ("ext-append", "replace")


@dataclass(frozen=True)
class Preferences:
    """Hold what the settings dialog edits; empty strings mean "the default"."""

    library: str = ""  # SQLite file or postgresql:// URL; "" = the user data directory
    model: str = ""  # checkpoint path; "" = the default model
    beam_size: int = 3
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    metadata: str = "embed"  # embed, sidecar or none
    sidecar_style: str = "ext-append"
    overwrite_human: bool = False
    watch: bool = True  # watch the folders for new photos while the app runs
    batch_size: int = 16
    workers: int = 2

    def index_settings(self) -> IndexSettings:
        """Return the indexer settings these preferences describe."""
        return IndexSettings(
            model=self.model or None,
            beam_size=self.beam_size,
            batch_size=self.batch_size,
            device=self.device or "auto",
            workers=self.workers,
            metadata=self.metadata,
            sidecar_style=self.sidecar_style,
            overwrite_human=self.overwrite_human,
        )

    def library_location(self) -> str | None:
        """Return the library location to open (None: the default one)."""
        return self.library or None

    def model_path(self) -> Path:
        """Return the checkpoint the indexer will load."""
        from annotator.core.settings import default_model_path

        return Path(self.model) if self.model else default_model_path()

    def needs_restart_of_worker(self, other: Preferences) -> bool:
        """Return whether switching to ``other`` changes what the indexer does."""
        return self.index_settings() != other.index_settings()

    def validated(self) -> Preferences:
        """Return a copy with out-of-range values replaced by defaults."""
        d = Preferences()
        return replace(
            self,
            beam_size=self.beam_size if 1 <= self.beam_size <= 20 else d.beam_size,
            metadata=self.metadata if self.metadata in METADATA_MODES else d.metadata,
            sidecar_style=(
                self.sidecar_style if self.sidecar_style in SIDECAR_STYLES else d.sidecar_style
            ),
            batch_size=self.batch_size if 1 <= self.batch_size <= 256 else d.batch_size,
            workers=self.workers if 1 <= self.workers <= 32 else d.workers,
        )


def default_store() -> QSettings:
    """Return the user's QSettings store for annotator."""
    return QSettings("annotator", "annotator")


def _coerce(value: object, like: object) -> object:
    if isinstance(like, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(like, int):
        try:
            return int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return like
    return "" if value is None else str(value)


def load_preferences(store: QSettings) -> Preferences:
    """Read the preferences from ``store`` (missing or broken keys take the defaults)."""
    default = Preferences()
    values = {}
    for f in fields(Preferences):
        like = getattr(default, f.name)
        raw = store.value(f"index/{f.name}", like)
        values[f.name] = _coerce(raw, like)
    return Preferences(**values).validated()  # type: ignore[arg-type]


def save_preferences(store: QSettings, prefs: Preferences) -> None:
    """Write the preferences to ``store`` and flush it."""
    for f in fields(Preferences):
        store.setValue(f"index/{f.name}", getattr(prefs, f.name))
    store.sync()
