"""Resolve default locations: the library database, caches and the shipped model."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

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


def default_model_path() -> Path:
    """Return the shipped default captioning model.

    Looks for ``ANNOTATOR_MODEL``, then ``models/default.safetensors`` next to the
    source tree (editable installs), then inside the user data directory.
    """
    override = os.environ.get("ANNOTATOR_MODEL")
    if override:
        return Path(override)
    for candidate in (
        REPO_ROOT / "models" / "default.safetensors",
        data_dir() / "models" / "default.safetensors",
    ):
        if candidate.exists():
            return candidate
    return REPO_ROOT / "models" / "default.safetensors"
