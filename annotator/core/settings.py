"""Define the user's settings once, and resolve default locations (library, caches, model).

:class:`Settings` holds what the command line and the desktop app share: the
library, the model, the beam size, the device and what happens to photo metadata.
They live in one JSON file, ``settings.json`` in the user data directory
(:func:`settings_path`), read by both. JSON rather than QSettings because the
command line must not import Qt (only ``annotator.gui`` does), and the file is
easy to read and to edit by hand. State that only the app has (window geometry,
splitter, thumbnail size) stays in QSettings.

Command-line options override the settings for one run; the app's settings
dialog changes them for good.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from annotator.core.shipped import shipped_candidates
from annotator.core.types import METADATA_MODES, SIDECAR_STYLES, MetadataMode, SidecarStyle

APP_NAME = "annotator"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The beam width of every captioning command unless the user chooses another
# (``annotator caption``, ``annotator index`` and the app alike): the shipped
# model's card reports its scores at beam 3, and wider beams cost time for little.
DEFAULT_BEAM_SIZE = 3
MAX_BEAM_SIZE = 20
# Hypotheses are ranked by total log-probability / length**P. Validation picked 0.5
# (models/README.md: Flickr8k val at beam 3, CIDEr-D 53.4 -> 54.4 with BLEU-4 unchanged
# at 22.5; P = 1 gave 55.1 but lost 0.7 BLEU-4).
DEFAULT_LENGTH_PENALTY = 0.5


@dataclass(frozen=True)
class Settings:
    """Hold the user's settings; empty strings mean "the default"."""

    library: str = ""  # SQLite file or postgresql:// URL; "" = the user data directory
    model: str = ""  # checkpoint path; "" = the default model
    beam_size: int = DEFAULT_BEAM_SIZE
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    metadata: MetadataMode = "embed"
    sidecar_style: SidecarStyle = "ext-append"
    overwrite_human: bool = False  # replace descriptions a person wrote
    watch: bool = True  # the app watches its folders for new photos
    batch_size: int = 16
    workers: int = 0  # decoding / hashing / metadata threads; 0: one per CPU core

    def library_location(self) -> str | None:
        """Return the library location to open (None: the default one)."""
        return self.library or None

    def model_path(self) -> Path:
        """Return the checkpoint that captioning loads."""
        return Path(self.model) if self.model else default_model_path()

    def validated(self) -> Settings:
        """Return a copy with out-of-range or unknown values replaced by the defaults."""
        d = Settings()
        return replace(
            self,
            beam_size=self.beam_size if 1 <= self.beam_size <= MAX_BEAM_SIZE else d.beam_size,
            device=self.device or d.device,
            metadata=self.metadata if self.metadata in METADATA_MODES else d.metadata,
            sidecar_style=(
                self.sidecar_style if self.sidecar_style in SIDECAR_STYLES else d.sidecar_style
            ),
            batch_size=self.batch_size if 1 <= self.batch_size <= 256 else d.batch_size,
            workers=self.workers if 0 <= self.workers <= 32 else d.workers,
        )


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """Return the settings in ``data``; missing keys and values of the wrong type are defaults."""
    default = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        like = getattr(default, f.name)
        value = data.get(f.name, like)
        if isinstance(like, bool):
            ok = isinstance(value, bool)
        elif isinstance(like, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        values[f.name] = value if ok else like
    if not values["model"] and isinstance(data.get("default_model"), str):
        values["model"] = data["default_model"]  # the key written before settings were one
    return Settings(**values).validated()


def load_settings() -> Settings:
    """Read the user's settings (an absent or broken file gives the defaults)."""
    return settings_from_dict(_read_settings())


def save_settings(settings: Settings) -> Path:
    """Write ``settings`` to the settings file (other keys are kept); return its path."""
    data = _read_settings()
    data.pop("default_model", None)
    data.update({f.name: getattr(settings, f.name) for f in fields(Settings)})
    return _write_settings(data)


def data_dir() -> Path:
    """Return the per-user data directory (``ANNOTATOR_DATA_DIR`` overrides it)."""
    override = os.environ.get("ANNOTATOR_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Return the per-user cache directory (``ANNOTATOR_CACHE_DIR`` overrides it)."""
    override = os.environ.get("ANNOTATOR_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))


def default_library_path() -> Path:
    """Return the default SQLite library file."""
    return data_dir() / "library.sqlite3"


def settings_path() -> Path:
    """Return the small JSON settings file in the user data directory."""
    return data_dir() / "settings.json"


def _read_settings() -> dict[str, Any]:
    """Return the settings file's content; an absent or unreadable file is empty."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_settings(data: dict[str, Any]) -> Path:
    """Replace the settings file atomically with ``data``; return its path."""
    target = settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def configured_default_model() -> Path | None:
    """Return the model the settings name (:func:`set_default_model` records one), if any."""
    model = load_settings().model
    return Path(model) if model else None


def set_default_model(path: str | Path | None) -> Path:
    """Record ``path`` (absolute) as the settings' model, or forget it with None.

    Other keys of the settings file are kept; the file is replaced atomically.
    Returns the settings file's path.
    """
    model = "" if path is None else str(Path(path).expanduser().resolve())
    return save_settings(replace(load_settings(), model=model))


def default_model_path() -> Path:
    """Return the default captioning model.

    Looks for ``ANNOTATOR_MODEL``, then the settings' model (chosen in the app,
    or installed by ``annotator finetune``) if it still exists, then the shipped
    ``models/default.safetensors`` (inside the installed package, or next to the
    source tree for editable installs), then inside the user data directory.
    """
    override = os.environ.get("ANNOTATOR_MODEL")
    if override:
        return Path(override)
    configured = configured_default_model()
    if configured is not None and configured.is_file():
        return configured
    shipped = shipped_candidates("models/default.safetensors")
    for candidate in (*shipped, data_dir() / "models" / "default.safetensors"):
        if candidate.exists():
            return candidate
    return shipped[-1]
