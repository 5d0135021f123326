"""Hold the library's plain values and the helpers that turn rows into them.

Every :class:`~annotator.library.repository.Library` method returns these frozen
dataclasses, never an ORM object; the ``_*_info`` converters build them from rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.types import Alternative, Keyword
from annotator.library.query import _WORD
from annotator.library.schema import (
    Caption,
    CaptionSource,
    Photo,
    PhotoState,
    Root,
)

_CHUNK = 500  # ids or paths per IN (...) list


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class RootInfo:
    """A watched folder; ``available`` is whether it is reachable now (mounted)."""

    id: int
    path: Path
    paused: bool
    added_at: datetime
    auto_paused: bool = False  # paused by annotator because it was unreachable

    @property
    def available(self) -> bool:
        """Return True if the folder exists now (False for an unmounted drive)."""
        return self.path.is_dir()


@dataclass(frozen=True)
class RootCounts:
    """How many photos of a root are in each state, and how many jobs are queued."""

    pending: int = 0
    captioned: int = 0
    failed: int = 0
    missing: int = 0
    queued: int = 0

    @property
    def total(self) -> int:
        """Return the number of photos in the root."""
        return self.pending + self.captioned + self.failed + self.missing


@dataclass(frozen=True)
class PhotoFile:
    """What the scanner knows about one file, for :meth:`Library.upsert_photos`."""

    path: str | Path
    content_hash: str
    size: int
    mtime: float
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None


@dataclass(frozen=True)
class UpsertResult:
    """The outcome of recording one file.

    ``status`` is ``new``, ``moved`` (known content at a new path: captions kept),
    ``changed`` (same path, new content: state back to pending), ``restored`` (a
    missing photo is back), ``updated`` (size, mtime or pixel size changed) or
    ``unchanged``.
    """

    photo_id: int
    status: str
    state: PhotoState
    moved_from: Path | None = None

    @property
    def needs_caption(self) -> bool:
        """Return True if the photo has no model caption for its current content yet."""
        return self.state is PhotoState.PENDING


@dataclass(frozen=True)
class PhotoInfo:
    """A photo row."""

    id: int
    root_id: int
    path: Path
    content_hash: str
    size: int
    mtime: float
    width: int | None
    height: int | None
    taken_at: datetime | None
    photo_date: datetime
    state: PhotoState
    missing_since: datetime | None


@dataclass(frozen=True)
class KnownFile:
    """What the library remembers about a file, for incremental scans."""

    photo_id: int
    size: int
    mtime: float
    content_hash: str
    state: PhotoState


@dataclass(frozen=True)
class ClaimedJob:
    """A job handed to a worker: caption ``path`` and call complete_job or fail_job."""

    job_id: int
    photo_id: int
    path: Path
    content_hash: str
    attempts: int


@dataclass(frozen=True)
class FailureInfo:
    """A photo that could not be processed."""

    id: int
    photo_id: int | None
    path: Path
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class CaptionInfo:
    """One caption revision with its provenance."""

    id: int
    photo_id: int
    text: str
    source: CaptionSource
    origin: str | None
    model_id: str | None
    model_version: str | None
    beam_size: int | None
    score: float | None
    confidence: float | None
    word_logprobs: tuple[float, ...]
    alternatives: tuple[Alternative, ...]
    reviewed: bool
    is_current: bool
    parent_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class CurrentCaption:
    """A photo's current caption, as ``write-metadata`` needs it."""

    photo_id: int
    path: Path
    text: str
    source: str  # "model" or "human"
    model_version: str  # "" for a human caption
    score: float | None
    confidence: float | None
    reviewed: bool
    # The keywords annotator writes into the photo: the model's and those typed in
    # annotator (not those read from the photo, nor removed ones).
    keywords: tuple[Keyword, ...] = ()


@dataclass(frozen=True)
class AttentionInfo:
    """The attention maps of a photo's latest model caption: one (H, W) map per word."""

    caption_id: int
    words: tuple[str, ...]
    maps: np.ndarray  # (T, H, W) float16


# ---------------------------------------------------------------------------- helpers


def _abspath(path: str | Path) -> str:
    """Return an absolute, normalised path string without touching the filesystem."""
    return os.path.normpath(Path(path).expanduser().absolute())


def _finite(value: float | None, digits: int | None = None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits) if digits is not None else float(value)


def _logprobs(values: Iterable[float]) -> list[float | None]:
    return [_finite(v, 4) for v in values]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _norm_word(word: str) -> str:
    return "".join(_WORD.findall(word.casefold()))


def _caption_info(c: Caption) -> CaptionInfo:
    alternatives = tuple(
        Alternative(
            str(a.get("text", "")),
            float(a["score"]) if a.get("score") is not None else float("nan"),
            tuple(float(x) if x is not None else float("nan") for x in a.get("word_logprobs", ())),
        )
        for a in (c.alternatives or ())
    )
    return CaptionInfo(
        id=c.id,
        photo_id=c.photo_id,
        text=c.text,
        source=CaptionSource(c.source),
        origin=c.origin,
        model_id=c.model_id,
        model_version=c.model_version,
        beam_size=c.beam_size,
        score=c.score,
        confidence=c.confidence,
        word_logprobs=tuple(
            float(x) if x is not None else float("nan") for x in (c.word_logprobs or ())
        ),
        alternatives=alternatives,
        reviewed=c.reviewed,
        is_current=c.is_current,
        parent_id=c.parent_id,
        created_at=c.created_at,
    )


def _photo_info(p: Photo) -> PhotoInfo:
    return PhotoInfo(
        id=p.id,
        root_id=p.root_id,
        path=Path(p.path),
        content_hash=p.content_hash,
        size=p.size,
        mtime=p.mtime,
        width=p.width,
        height=p.height,
        taken_at=p.taken_at,
        photo_date=p.photo_date,
        state=PhotoState(p.state),
        missing_since=p.missing_since,
    )


def _root_info(r: Root) -> RootInfo:
    return RootInfo(
        id=r.id, path=Path(r.path), paused=r.paused, added_at=r.added_at, auto_paused=r.auto_paused
    )


def _photo_date(taken_at: datetime | None, mtime: float) -> datetime:
    if taken_at is not None:
        return taken_at if taken_at.tzinfo else taken_at.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)
