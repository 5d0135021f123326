"""Declare the library's tables as typed SQLAlchemy 2.x models.

The same models serve SQLite (the embedded default) and PostgreSQL (a library
shared by several machines); nothing here is dialect specific. The full-text
index is not a model: :mod:`annotator.library.fts` creates it per dialect.

Tables
    ``roots``           watched folders (``paused`` stops the pipeline from queueing;
                        ``auto_paused``: paused because unreachable, resumed when back).
    ``photos``          one row per photo file: absolute path, content hash, size,
                        mtime, pixel size, a ``photo_date`` used by date filters, and
                        ``state`` (pending / captioned / failed / missing).
    ``captions``        every caption ever written for a photo, model or human. A human
                        edit is a new row whose ``parent_id`` is the caption it revised;
                        nothing is overwritten. Exactly one row per photo has
                        ``is_current`` set (latest human revision, else latest model
                        caption); only current captions are in the full-text index.
    ``attention_maps``  one compressed (T, H, W) float16 array per model caption.
    ``jobs``            the persistent caption queue: at most one job per photo; a
                        running job has an ``owner`` and a ``lease_until``.
    ``failures``        photos that could not be processed, with the reason.
    ``keywords``        a photo's keywords: one row per photo and word (compared
                        case-insensitively through ``norm``), from the model (with
                        its version and probability) or from a person (typed in
                        annotator, or found in the photo's metadata); ``rejected``
                        marks one a person removed, so that no re-run brings it back.

Keep :mod:`annotator.library.migrations` in step with this module: every change
here needs a new migration (``tests/library/test_migrations.py`` compares them).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Constraint names are explicit so that migrations (and SQLite batch mode) can find them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always return them aware (UTC).

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text, which also keeps string comparison chronological.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive datetimes are taken to be UTC already)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PhotoState(enum.StrEnum):
    """Where a photo is in its life: waiting, captioned, failed, or gone from disk."""

    PENDING = "pending"
    CAPTIONED = "captioned"
    FAILED = "failed"
    MISSING = "missing"


class CaptionSource(enum.StrEnum):
    """Who wrote a caption."""

    MODEL = "model"
    HUMAN = "human"


class JobState(enum.StrEnum):
    """State of a queued caption job (finished jobs are deleted)."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


# SQLite uses a partial index only when the query repeats its WHERE term exactly, and
# SQLAlchemy writes a boolean column test as "is_current = 1" there.
SQLITE_CURRENT = text("is_current = 1")

intpk = Annotated[int, mapped_column(primary_key=True)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
path_str = Annotated[str, mapped_column(String())]


class Base(DeclarativeBase):
    """Declarative base holding the library's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Root(Base):
    """A watched folder."""

    __tablename__ = "roots"

    id: Mapped[intpk]
    path: Mapped[path_str] = mapped_column(unique=True)
    paused: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    # Paused by annotator because the folder was unreachable (not by the user): resumed
    # automatically once it is reachable again.
    auto_paused: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    added_at: Mapped[timestamp]

    photos: Mapped[list[Photo]] = relationship(
        back_populates="root", cascade="all, delete-orphan", passive_deletes=True
    )


class Photo(Base):
    """One photo file under a root."""

    __tablename__ = "photos"
    # Per-root counts by state, and the root_id foreign key's index. On PostgreSQL, paths
    # by character for the search's folder filter (``LIKE 'folder/%'``, revision 0006).
    __table_args__ = (
        Index("ix_photos_root_id_state", "root_id", "state"),
        Index("ix_photos_path_prefix", "path", postgresql_ops={"path": "text_pattern_ops"}).ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[intpk]
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"))
    path: Mapped[path_str] = mapped_column(unique=True)
    content_hash: Mapped[str] = mapped_column(String(128), index=True)
    size: Mapped[int] = mapped_column(BigInteger())
    mtime: Mapped[float] = mapped_column(Float())
    width: Mapped[int | None] = mapped_column(Integer())
    height: Mapped[int | None] = mapped_column(Integer())
    taken_at: Mapped[datetime | None]
    # taken_at if known, else the file's mtime: what date filters and date order use.
    photo_date: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[PhotoState] = mapped_column(
        _enum(PhotoState, "photo_state"), default=PhotoState.PENDING
    )
    added_at: Mapped[timestamp]
    updated_at: Mapped[timestamp] = mapped_column(onupdate=utcnow)
    missing_since: Mapped[datetime | None]
    # The caption is in the library but writing it into the photo failed: retry the write.
    write_pending: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())

    root: Mapped[Root] = relationship(back_populates="photos")


class Caption(Base):
    """One caption revision of a photo, written by the model or by a person."""

    __tablename__ = "captions"
    __table_args__ = (
        # At most one current caption per photo (partial unique index on both dialects);
        # also how a photo finds its current caption.
        Index(
            "uq_captions_current_photo",
            "photo_id",
            unique=True,
            sqlite_where=SQLITE_CURRENT,
            postgresql_where=text("is_current"),
        ),
        # Review order: the current captions with the lowest confidence first.
        Index(
            "ix_captions_current_confidence",
            "confidence",
            sqlite_where=SQLITE_CURRENT,
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[intpk]
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String())
    source: Mapped[CaptionSource] = mapped_column(_enum(CaptionSource, "caption_source"))
    # Where a human caption came from ("gui", "cli", an XMP/EXIF field name, ...).
    origin: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(128), index=True)
    beam_size: Mapped[int | None] = mapped_column(Integer())
    score: Mapped[float | None] = mapped_column(Float())
    # Mean per-word log-probability (CaptionResult.confidence); None for human captions.
    confidence: Mapped[float | None] = mapped_column(Float())
    word_logprobs: Mapped[list[Any] | None]
    # n-best list, best first: [{"text": str, "score": float, "word_logprobs": [float]}]
    alternatives: Mapped[list[Any] | None]
    # The keywords the model produced with this caption:
    # [{"word": str, "hierarchy": [str], "probability": float}]; None for a caption stored
    # before keywords existed (``--recaption-older`` fills those in) and for human captions.
    keywords: Mapped[list[Any] | None]
    reviewed: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    is_current: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("captions.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[timestamp]


class AttentionMap(Base):
    """The attention maps of one model caption: T x H x W, float16, compressed."""

    __tablename__ = "attention_maps"

    caption_id: Mapped[int] = mapped_column(
        ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True
    )
    n_words: Mapped[int] = mapped_column(Integer())
    height: Mapped[int] = mapped_column(Integer())
    width: Mapped[int] = mapped_column(Integer())
    codec: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary())


class Job(Base):
    """A queued request to caption one photo."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_id", "state", "id"),)

    id: Mapped[intpk]
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), unique=True)
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer(), default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String())
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp] = mapped_column(onupdate=utcnow)
    started_at: Mapped[datetime | None]
    # Who runs a running job ("host:pid:token") and until when its claim holds; the
    # owner extends the lease while it works (heartbeat), recover() takes back only
    # jobs whose lease has expired or whose owner is a dead process on this host.
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]


class Failure(Base):
    """A photo that could not be processed, kept after the photo itself is purged."""

    __tablename__ = "failures"

    id: Mapped[intpk]
    photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL"), index=True
    )
    path: Mapped[path_str]
    reason: Mapped[str] = mapped_column(String())
    created_at: Mapped[timestamp]


class PhotoKeyword(Base):
    """One keyword of a photo, from the model or from a person."""

    __tablename__ = "keywords"
    __table_args__ = (UniqueConstraint("photo_id", "norm"),)

    id: Mapped[intpk]
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    word: Mapped[str] = mapped_column(String(128))
    # casefolded word: one row per photo and word, and what ``--keyword`` matches
    norm: Mapped[str] = mapped_column(String(128), index=True)
    # root..leaf joined by "|" (Lightroom's separator), "" when the keyword is flat
    hierarchy: Mapped[str] = mapped_column(String(512), default="", server_default="")
    source: Mapped[CaptionSource] = mapped_column(_enum(CaptionSource, "keyword_source"))
    # Where a human keyword came from ("gui", "XMP-dc:Subject", "IPTC:Keywords", ...).
    origin: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(128))
    probability: Mapped[float | None] = mapped_column(Float())
    rejected: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    created_at: Mapped[timestamp]
