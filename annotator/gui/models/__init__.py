"""Qt item models over the library: photos (lazy, searched), watched folders, failures."""

from __future__ import annotations
