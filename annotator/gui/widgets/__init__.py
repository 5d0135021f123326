"""Widgets of the desktop app: main window, grid, sidebar, review panel, dialogs."""

from __future__ import annotations
