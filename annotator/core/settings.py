"""Resolve default locations: the library database, caches and the shipped model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from annotator.core.shipped import shipped_candidates

APP_NAME = "annotator"
REPO_ROOT = Path(__file__).resolve().parents[2]


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


def configured_default_model() -> Path | None:
    """Return the default model recorded by :func:`set_default_model`, if any."""
    value = _read_settings().get("default_model")
    return Path(value) if isinstance(value, str) and value else None


def set_default_model(path: str | Path | None) -> Path:
    """Record ``path`` (absolute) as the default model, or forget it with None.

    Other keys of the settings file are kept; the file is replaced atomically.
    Returns the settings file's path.
    """
    target = settings_path()
    data = _read_settings()
    if path is None:
        data.pop("default_model", None)
    else:
        data["default_model"] = str(Path(path).expanduser().resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def default_model_path() -> Path:
    """Return the default captioning model.

    Looks for ``ANNOTATOR_MODEL``, then the model recorded in the settings file
    (``annotator finetune`` installs one there) if it still exists, then the
    shipped ``models/default.safetensors`` (inside the installed package, or next to
    the source tree for editable installs), then inside the user data directory.
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
