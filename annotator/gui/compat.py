"""Guard against a reference-counting bug of PySide6 6.12 on Python 3.11.

PySide6 6.12's stable-ABI wheels return ``None`` from every ``void`` method
(``QPainter.setPen``, ``QWidget.update``, ...) and ``True`` from
``Signal.emit`` without taking a reference, as if these objects were immortal,
which they are only from Python 3.12 on (PEP 683). On 3.11 every such call
takes one reference away; after some hundred thousand calls (a few minutes of
painting a photo grid) the interpreter aborts with "Fatal Python error:
none_dealloc: deallocating None". Giving these three objects a huge reference
count makes them immortal in practice, which is what 3.12 does.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 50
_done = False


def immortalize_singletons() -> bool:
    """Make ``None``, ``True`` and ``False`` immortal on Python < 3.12; return if it did."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field
        refcount.value += _HEADROOM
    _done = True
    return True
