"""annotator: caption, search and safely tag a photo library with an attention captioner."""

from __future__ import annotations

__version__ = "0.1.0"
