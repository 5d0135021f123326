"""Watch folders for new, changed, moved and deleted photos (watchdog)."""

from __future__ import annotations
