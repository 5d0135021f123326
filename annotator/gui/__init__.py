"""Desktop app (PySide6): browse, search and review captions; the only package that imports Qt.

Nothing outside this package imports it, except the command line's lazy
``from annotator.gui.app import run`` when ``annotator`` runs with no arguments.
"""

from __future__ import annotations
