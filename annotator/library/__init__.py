"""Keep the photo library: photos, captions and their history, attention, queue, search.

Open one with :func:`open_library` (SQLite by default, PostgreSQL by URL); the
:class:`Library` it returns is the whole API (see :mod:`annotator.library.repository`).
"""

from __future__ import annotations

from annotator.library.keywords import KeywordInfo, parse_human
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
    "KeywordInfo",
    "KnownFile",
    "Library",
    "PhotoFile",
    "PhotoInfo",
    "PhotoState",
    "RootCounts",
    "RootInfo",
    "SearchHit",
    "UpsertResult",
    "open_library",
    "parse_human",
]
