"""Desktop app (PySide6): browse, search and review captions; the only package that imports Qt.

Nothing outside this package imports it, except the command line's lazy
``from annotator.gui.app import run`` when ``annotator`` runs with no arguments.
Importing it guards against PySide6's reference-counting bug on Python 3.11
(see :mod:`annotator.gui.compat`).
"""

from __future__ import annotations

from annotator.gui.compat import immortalize_singletons

immortalize_singletons()
