"""Make file names and texts safe to print and to store as text.

A file name that is not valid UTF-8 reaches Python with surrogate escapes
(``b"\\xff.jpg"`` becomes ``"\\udcff.jpg"``): such a string cannot be encoded as
UTF-8, so it can neither go into the library nor be printed as is.
Captions and names may also hold terminal control sequences (``ESC [ ...``) that
would act on the terminal when printed. :func:`printable` escapes both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# C0 and C1 controls (ESC, CSI, ...), line separators, and bidirectional overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def is_encodable(path: str | Path) -> bool:
    """Return whether ``path`` is valid Unicode (no surrogate escapes from undecodable bytes)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str | Path) -> str:
    """Return ``path`` as valid text: undecodable bytes shown as ``\\xNN``."""
    text = os.fspath(path)
    if is_encodable(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def printable(text: object) -> str:
    """Return ``text`` safe for a terminal: control characters and bad bytes escaped.

    Tabs and newlines are escaped too, so one value never breaks a tab-separated
    line into several.
    """
    value = display_path(text if isinstance(text, Path) else str(text))
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
