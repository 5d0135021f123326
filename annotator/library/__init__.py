"""Keep the photo library: photos, captions and their history, attention, queue, search.

Open one with :func:`open_library` (SQLite by default, PostgreSQL by URL); the
:class:`Library` it returns is the whole API (see :mod:`annotator.library.repository`).

``iter_current_captions`` and ``import_human_caption`` serve ``write-metadata``:
they open the library at ``library_path`` (None: the default) for one call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from annotator.library.queue import HEARTBEAT_S
from annotator.library.repository import (
    AttentionInfo,
    CaptionInfo,
    ClaimedJob,
    CurrentCaption,
    FailureInfo,
    KnownFile,
    Library,
    PhotoFile,
    PhotoInfo,
    RootCounts,
    RootInfo,
    UpsertResult,
    open_library,
)
from annotator.library.schema import CaptionSource, JobState, PhotoState
from annotator.library.search import SearchHit

__all__ = [
    "HEARTBEAT_S",
    "AttentionInfo",
    "CaptionInfo",
    "CaptionSource",
    "ClaimedJob",
    "CurrentCaption",
    "FailureInfo",
    "JobState",
    "KnownFile",
    "Library",
    "PhotoFile",
    "PhotoInfo",
    "PhotoState",
    "RootCounts",
    "RootInfo",
    "SearchHit",
    "UpsertResult",
    "import_human_caption",
    "iter_current_captions",
    "open_library",
]


def iter_current_captions(library_path: str | Path | None) -> Iterator[CurrentCaption]:
    """Yield every present photo's current caption from the library at ``library_path``."""
    library = open_library(library_path, create=False)
    try:
        yield from library.iter_current_captions()
    finally:
        library.close()


def import_human_caption(
    library_path: str | Path | None, path: Path, text: str, source: str
) -> None:
    """Record a description found in the photo at ``path`` as a human caption.

    ``source`` names the metadata field it came from. Importing the same text
    again adds no revision.
    """
    with open_library(library_path, create=False) as library:
        library.import_human_caption(path, text, origin=source)
