"""Store a photo's keywords: the model's (with version and probability) and a person's.

One row per photo and word, compared case-insensitively (``norm``). The rules:

- The model's keywords for a photo are replaced by each new caption of the photo
  (:func:`store_model`), except words a person already holds or removed.
- A person's keyword (typed in annotator, :func:`add_human`) wins over the model's
  same word and is never replaced by a model run; adding a word a person removed
  brings it back.
- Keywords found in a photo's metadata (:func:`import_human`) are human keywords
  too, but do not bring back a word a person removed in annotator.
- Removing a keyword (:func:`reject`) keeps the row, marked ``rejected``, so that
  no later model run or import adds it again; rejected keywords are neither
  searched nor written into photos.

Functions here run inside a caller's session (the :class:`Library` front door
opens the transaction); the values returned hold no ORM objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, literal, or_, select
from sqlalchemy.orm import Session

from annotator.core.types import Keyword
from annotator.library.schema import CaptionSource, Photo, PhotoKeyword, utcnow

MAX_WORD = 128
MAX_HIERARCHY = 512
SEPARATOR = "|"  # Lightroom's hierarchy separator, also how the library stores one
TYPED_ORIGINS = ("gui", "cli")  # human keywords typed in annotator (written into photos)
MAX_PER_PHOTO = 500  # more than anyone tags by hand: the rest of a runaway list is not stored
_CHUNK = 500


@dataclass(frozen=True)
class KeywordInfo:
    """One stored keyword of a photo."""

    word: str
    hierarchy: tuple[str, ...]
    source: str  # "model" or "human"
    origin: str | None  # for a human keyword: "gui", "cli", or the metadata field
    model_id: str | None
    model_version: str | None
    probability: float | None
    rejected: bool

    @property
    def written_by_annotator(self) -> bool:
        """Return whether annotator writes this keyword into the photo.

        The model's keywords and those typed in annotator are; keywords read from
        the photo's own metadata are already there and belong to whoever wrote them.
        """
        return not self.rejected and (self.source == "model" or self.origin in TYPED_ORIGINS)

    def as_keyword(self) -> Keyword:
        """Return the keyword as the pipeline and the metadata writer pass it."""
        return Keyword(self.word, self.hierarchy, self.probability, self.source)


def clean_word(word: str) -> str:
    """Return ``word`` with whitespace collapsed, cut to what the library stores."""
    return " ".join(str(word).replace(SEPARATOR, " ").split())[:MAX_WORD]


def norm(word: str) -> str:
    """Return the case-insensitive form keywords are compared by."""
    return clean_word(word).casefold()


def hierarchy_text(levels: Sequence[str]) -> str:
    """Return ``levels`` as stored (``Animals|Mammals|Cat``); "" for a flat keyword."""
    parts = [clean_word(level) for level in levels]
    text = SEPARATOR.join(p for p in parts if p)
    return text if len(text) <= MAX_HIERARCHY else ""


def parse_human(text: str) -> Keyword | None:
    """Return the keyword a person typed: ``cat``, or a hierarchy ``Animals|Pets|Rex``."""
    levels = tuple(p for p in (clean_word(t) for t in str(text).split(SEPARATOR)) if p)
    if not levels:
        return None
    return Keyword(levels[-1], levels if len(levels) > 1 else (), None, "human")


def _info(row: PhotoKeyword) -> KeywordInfo:
    return KeywordInfo(
        word=row.word,
        hierarchy=tuple(row.hierarchy.split(SEPARATOR)) if row.hierarchy else (),
        source=CaptionSource(row.source).value,
        origin=row.origin,
        model_id=row.model_id,
        model_version=row.model_version,
        probability=row.probability,
        rejected=row.rejected,
    )


def _probability(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(min(max(float(value), 0.0), 1.0), 6)


def as_json(keywords: Iterable[Keyword]) -> list[dict[str, Any]]:
    """Return keywords as stored with a model caption (``captions.keywords``)."""
    return [
        {
            "word": clean_word(k.word),
            "hierarchy": list(k.hierarchy),
            "probability": _probability(k.probability),
        }
        for k in keywords
        if clean_word(k.word)
    ]


def _rows(s: Session, photo_ids: Sequence[int]) -> dict[int, dict[str, PhotoKeyword]]:
    out: dict[int, dict[str, PhotoKeyword]] = {pid: {} for pid in photo_ids}
    for i in range(0, len(photo_ids), _CHUNK):
        chunk = photo_ids[i : i + _CHUNK]
        for row in s.scalars(select(PhotoKeyword).where(PhotoKeyword.photo_id.in_(chunk))):
            out[row.photo_id][row.norm] = row
    return out


def store_model(
    s: Session, items: Sequence[tuple[int, Sequence[Keyword], str | None, str | None]]
) -> None:
    """Replace the model keywords of photos: ``(photo_id, keywords, model_id, model_version)``.

    Words a person holds or removed are left as they are.
    """
    if not items:
        return
    existing = _rows(s, [pid for pid, *_ in items])
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    for photo_id, keywords, model_id, model_version in items:
        rows = existing[photo_id]
        stale = [r.id for r in rows.values() if r.source is CaptionSource.MODEL and not r.rejected]
        if stale:
            s.execute(
                delete(PhotoKeyword)
                .where(PhotoKeyword.id.in_(stale))
                .execution_options(synchronize_session=False)
            )
        kept = {n for n, r in rows.items() if r.source is CaptionSource.HUMAN or r.rejected}
        for k in keywords[:MAX_PER_PHOTO]:
            key = norm(k.word)
            if not key or key in kept:
                continue
            kept.add(key)
            new_rows.append(
                {
                    "photo_id": photo_id,
                    "word": clean_word(k.word),
                    "norm": key,
                    "hierarchy": hierarchy_text(k.hierarchy),
                    "source": CaptionSource.MODEL,
                    "origin": None,
                    "model_id": model_id,
                    "model_version": model_version,
                    "probability": _probability(k.probability),
                    "rejected": False,
                    "created_at": now,
                }
            )
    for row in new_rows:  # one statement per row: each fires the index trigger
        s.add(PhotoKeyword(**row))
    s.flush()


def _upsert_human(
    s: Session, photo_id: int, keywords: Iterable[Keyword], origin: str, *, revive: bool
) -> int:
    rows = _rows(s, [photo_id])[photo_id]
    changed = 0
    for k in keywords:
        key = norm(k.word)
        if not key or (key not in rows and len(rows) >= MAX_PER_PHOTO):
            continue
        row = rows.get(key)
        hierarchy = hierarchy_text(k.hierarchy)
        if row is None:
            row = PhotoKeyword(
                photo_id=photo_id,
                word=clean_word(k.word),
                norm=key,
                hierarchy=hierarchy,
                source=CaptionSource.HUMAN,
                origin=origin[:64],
                rejected=False,
            )
            s.add(row)
            rows[key] = row
            changed += 1
        elif row.rejected and not revive:
            continue
        elif row.source is not CaptionSource.HUMAN or row.rejected:
            row.source = CaptionSource.HUMAN
            row.origin = origin[:64]
            row.rejected = False
            row.probability = None
            row.hierarchy = hierarchy or row.hierarchy
            changed += 1
        elif hierarchy and not row.hierarchy:
            row.hierarchy = hierarchy
            changed += 1
    s.flush()
    return changed


def add_human(s: Session, photo_id: int, keywords: Iterable[Keyword], origin: str) -> int:
    """Record keywords a person gave (bringing back removed ones); return how many changed."""
    return _upsert_human(s, photo_id, keywords, origin, revive=True)


def import_human(s: Session, photo_id: int, keywords: Iterable[Keyword], origin: str) -> int:
    """Record keywords found in the photo's metadata as human keywords; return how many changed.

    A word a person removed in annotator stays removed.
    """
    return _upsert_human(s, photo_id, keywords, origin, revive=False)


def reject(s: Session, photo_id: int, word: str) -> bool:
    """Mark the photo's keyword ``word`` removed by a person; False if it has none."""
    row = _rows(s, [photo_id])[photo_id].get(norm(word))
    if row is None or row.rejected:
        return False
    row.rejected = True
    s.flush()
    return True


def for_photos(
    s: Session, photo_ids: Sequence[int], *, include_rejected: bool = False
) -> dict[int, list[KeywordInfo]]:
    """Return each photo's keywords: human first, then the model's by probability."""
    out: dict[int, list[KeywordInfo]] = {}
    for pid, rows in _rows(s, list(photo_ids)).items():
        infos = [_info(r) for r in rows.values() if include_rejected or not r.rejected]
        infos.sort(key=lambda k: (k.source != "human", -(k.probability or 0.0), k.word.casefold()))
        out[pid] = infos
    return out


# Built once (every search runs it; building it again costs more than running it).
_WORDS_FOR = (
    select(PhotoKeyword.photo_id, PhotoKeyword.word)
    .where(PhotoKeyword.photo_id.in_(bindparam("ids", expanding=True)), ~PhotoKeyword.rejected)
    .order_by(
        PhotoKeyword.photo_id,
        PhotoKeyword.source.desc(),  # "model" < "human": human first
        PhotoKeyword.probability.desc(),
        PhotoKeyword.norm,
    )
)


def words_for(conn: Connection, photo_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Return each photo's keyword words, rejected ones left out: human first, then likeliest."""
    out: dict[int, list[str]] = {}
    for i in range(0, len(photo_ids), _CHUNK):
        chunk = list(photo_ids[i : i + _CHUNK])
        for pid, word in conn.execute(_WORDS_FOR, {"ids": chunk}):
            out.setdefault(pid, []).append(word)
    return {pid: tuple(words) for pid, words in out.items()}


def to_write(s: Session, photo_id: int, proposed: Sequence[Keyword]) -> list[Keyword]:
    """Return the keywords annotator writes into a photo, given the model's ``proposed`` ones.

    The keywords typed in annotator come first, then the proposed ones that no
    person holds or removed (a caption being written before it is stored brings
    its keywords this way).
    """
    rows = for_photos(s, [photo_id], include_rejected=True)[photo_id]
    typed = [k.as_keyword() for k in rows if k.written_by_annotator and k.source == "human"]
    held = {norm(k.word) for k in rows if k.source == "human" or k.rejected}
    out = typed
    seen = {norm(k.word) for k in typed}
    for k in proposed:
        key = norm(k.word)
        if key and key not in seen and key not in held:
            seen.add(key)
            out.append(k)
    return out


def has_keyword(word: str) -> ColumnElement[bool]:
    """Return a condition on ``Photo``: the photo has keyword ``word`` (or it as a hierarchy level).

    ``Animals`` matches a keyword ``cat`` filed under ``Animals|Mammals|Cat``.
    """
    key = norm(word)
    padded = func.lower(literal(SEPARATOR) + PhotoKeyword.hierarchy + SEPARATOR)
    pattern = "%" + SEPARATOR + _escape_like(key) + SEPARATOR + "%"
    return Photo.id.in_(
        select(PhotoKeyword.photo_id).where(
            ~PhotoKeyword.rejected,
            or_(PhotoKeyword.norm == key, padded.like(pattern, escape="\\")),
        )
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
