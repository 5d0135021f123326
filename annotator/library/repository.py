"""Read and write the photo library: the API the pipeline, the GUI and the CLI use.

Open a library with :func:`open_library` and share the :class:`Library` between
threads: every method runs in its own session and transaction (writes begin
with ``BEGIN IMMEDIATE`` on SQLite), returns plain frozen values, and keeps no
ORM object alive after it returns. Database failures surface as
:class:`~annotator.core.errors.LibraryError`; bad arguments as ``ValueError``.

Roots
    ``add_root(path) -> RootInfo``, ``roots()``, ``root(id or path)``, ``root_for(path)``,
    ``set_root_paused(root_id, paused, auto=False)``, ``resume_reachable_roots()``,
    ``remove_root(root_id)``,
    ``root_counts() -> {root_id: RootCounts}``
Photos (the scanner and watcher)
    ``upsert_photo(root_id, path, content_hash, size, mtime, width, height,
    taken_at=None) -> UpsertResult`` and the batch form ``upsert_photos(root_id,
    [PhotoFile])``: a new path with the content hash of a photo that is missing
    (or whose file is gone) is a move, and keeps its captions.
    ``known_files(root_id)``, ``photo(photo_id)``, ``photo_by_path(path)``,
    ``mark_missing(paths)`` (never for a root that is not mounted),
    ``set_write_pending(photo_ids)`` / ``pending_writes()`` (captions stored but not
    yet written into their photos),
    ``purge_missing(root_id=None)``
Queue (the pipeline)
    ``enqueue(photo_ids)`` (idempotent: at most one job per photo),
    ``claim_jobs(limit) -> [ClaimedJob]`` (atomic: claimed jobs are ``running``, owned
    by this library's ``owner`` under a lease that ``heartbeat()`` extends;
    ``mark_decoded(job_ids)`` after decoding), ``owned_jobs(job_ids)``,
    ``complete_job(job_id, result, model_version) -> caption_id`` (caption, n-best,
    attention, photo state and job removal in one transaction; ``complete_jobs``
    does a batch in one), ``fail_job(job_id, reason, retry=False)``,
    ``release_jobs(job_ids)`` (a clean stop: claimed jobs back, no attempt counted),
    ``recover()`` (jobs of expired leases or dead owners back to ``pending``),
    ``queue_counts()``, ``failures()``, ``clear_failures()``
Captions
    ``current_caption(photo_id)``, ``caption_history(photo_id)``,
    ``add_human_revision(photo_id, text, reviewed=True, origin="gui")``,
    ``import_human_caption(path, text, origin)``, ``set_reviewed(photo_id)``,
    ``iter_current_captions()``
Keywords (stored by :mod:`annotator.library.keywords`)
    ``keywords(photo_id) -> [KeywordInfo]``, ``add_keywords(photo_id, [Keyword],
    origin="gui")``, ``import_human_keywords(path, [Keyword], origin)``,
    ``remove_keyword(photo_id, word)``, ``keywords_to_write(photo_id)``,
    ``current_for_write(photo_id)``, ``photos_to_recaption(model_version)``;
    ``complete_jobs`` stores the model's.
Attention
    ``attention(photo_id) -> AttentionInfo``, ``attention_for_word(photo_id, word)
    -> (H, W) array``
Search
    ``search(query, root_id=..., folder=..., reviewed=..., human_edited=...,
    model_version=..., date_from=..., date_to=..., order_by=..., limit=...)
    -> [SearchHit]`` (see :mod:`annotator.library.search`), ``check_index()``,
    ``rebuild_index()`` (the ``annotator search-index check|rebuild`` command)

The current caption of a photo is its latest human revision if it has one, else
its latest model caption; earlier revisions are kept (``caption_history``).
Photo ``state`` follows the model pipeline: pending, captioned, failed, missing.

The value types live in :mod:`annotator.library.values`, the queue methods in
:mod:`annotator.library.queue`; both are reached through :class:`Library`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from annotator.core.display import display_path, is_encodable
from annotator.core.errors import LibraryError
from annotator.core.types import Keyword
from annotator.library import attention as attention_codec
from annotator.library import db, fts
from annotator.library import keywords as keyword_store
from annotator.library.db import rowcount
from annotator.library.keywords import KeywordInfo
from annotator.library.queue import LEASE_S, MAX_ATTEMPTS, JobQueue, end_owner, new_owner
from annotator.library.schema import (
    AttentionMap,
    Caption,
    CaptionSource,
    Job,
    JobState,
    Photo,
    PhotoState,
    Root,
    utcnow,
)
from annotator.library.search import DEFAULT_RANK_WINDOW, OrderBy, SearchHit, run_search
from annotator.library.values import (
    AttentionInfo,
    CaptionInfo,
    ClaimedJob,
    CurrentCaption,
    FailureInfo,
    KnownFile,
    PhotoFile,
    PhotoInfo,
    RootCounts,
    RootInfo,
    UpsertResult,
    _abspath,
    _caption_info,
    _chunks,
    _norm_word,
    _photo_date,
    _photo_info,
    _root_info,
)

__all__ = [
    "MAX_ATTEMPTS",
    "AttentionInfo",
    "CaptionInfo",
    "ClaimedJob",
    "CurrentCaption",
    "FailureInfo",
    "KnownFile",
    "Library",
    "PhotoFile",
    "PhotoInfo",
    "RootCounts",
    "RootInfo",
    "SearchHit",
    "UpsertResult",
    "open_library",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- library


def open_library(location: str | Path | None = None, *, create: bool = True) -> Library:
    """Open (creating and migrating as needed) the library at ``location``.

    ``location`` is a SQLite file path, a database URL (``postgresql://user@host/db``)
    or None for the default file in the user data directory. With ``create=False``
    a missing SQLite file is an error instead of a new library.
    """
    url, path = db.resolve_location(location)
    if path is not None and path.exists():
        db.refuse_foreign_file(path)
    if path is not None and not path.exists():
        if not create:
            raise LibraryError(f"{path}: no library here")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"{path.parent}: cannot create the folder ({exc})") from exc
    engine = db.create_library_engine(url)
    try:
        db.upgrade(engine)
        library = Library(engine, path)
        for root in library.roots():
            if path is not None and path.is_relative_to(root.path):
                raise LibraryError(
                    f"{path}: the library database is inside the watched folder {root.path}; "
                    "move it out (or open it with --library elsewhere)"
                )
    except SQLAlchemyError as exc:
        engine.dispose()
        where = path if path is not None else url.render_as_string(hide_password=True)
        raise LibraryError(f"{where}: cannot open the library ({db.driver_error(exc)})") from exc
    except BaseException:
        engine.dispose()
        raise
    return library


# The columns of a current caption as the metadata writer takes it, in CurrentCaption order.
_CURRENT_CAPTION = (
    Caption.photo_id,
    Photo.path,
    Caption.text,
    Caption.source,
    Caption.model_version,
    Caption.score,
    Caption.confidence,
    Caption.reviewed,
)


def _current_caption(row: Sequence[Any], keywords: dict[int, list[KeywordInfo]]) -> CurrentCaption:
    """Build a CurrentCaption from a ``_CURRENT_CAPTION`` row and the photos' keywords."""
    pid, path, text, source, version, score, confidence, reviewed = row
    return CurrentCaption(
        pid,
        Path(path),
        text,
        CaptionSource(source).value,
        version or "",
        score,
        confidence,
        reviewed,
        tuple(k.as_keyword() for k in keywords.get(pid, []) if k.written_by_annotator),
    )


class Library(JobQueue):
    """A photo library database (see the module docstring for the API)."""

    def __init__(self, engine: Engine, path: Path | None = None) -> None:
        """Wrap an engine whose database is already at the current schema revision."""
        self.engine = engine
        self.path = path
        self.dialect = engine.dialect.name
        self.fts = fts.for_dialect(self.dialect)
        self.fts.attach(engine)
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(db.writer(engine), expire_on_commit=False)
        self.owner = new_owner()  # who this library's claimed jobs belong to
        self.lease_s = LEASE_S

    def __repr__(self) -> str:
        """Return the location, without a password."""
        return f"Library({self.location})"

    @property
    def location(self) -> str:
        """Return the file path or URL (password hidden) of the database."""
        if self.path is not None:
            return str(self.path)
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection; jobs still claimed count as abandoned."""
        end_owner(self.owner)
        self.engine.dispose()

    def __enter__(self) -> Library:
        """Return self; the library is closed when the block ends."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the library."""
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._reader() as session:
                yield session
        except SQLAlchemyError as exc:
            raise LibraryError(f"{self.location}: {db.driver_error(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with self._writer.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise LibraryError(f"{self.location}: {db.driver_error(exc)}") from exc

    def _insert_ignore(self, model: type[Any]) -> Any:
        """Return ``INSERT ... ON CONFLICT DO NOTHING`` for this dialect."""
        dialect = sqlite if self.dialect == "sqlite" else postgresql
        return dialect.insert(model).on_conflict_do_nothing()

    # -------------------------------------------------------------------------- roots

    def add_root(self, path: str | Path) -> RootInfo:
        """Watch the folder ``path`` (returns the existing root if it is watched already).

        Refuses a folder that holds the library database, or that overlaps (holds or
        lies in) another root.
        """
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise LibraryError(f"{folder}: not a folder")
        if self.path is not None and self.path.is_relative_to(folder):
            raise LibraryError(
                f"{folder}: the library database {self.path} is inside this folder; "
                "keep the library outside watched folders (choose it with --library)"
            )
        with self._write() as s:
            for root in s.scalars(select(Root)):
                other = Path(root.path)
                if other == folder:
                    return _root_info(root)
                if folder.is_relative_to(other) or other.is_relative_to(folder):
                    raise LibraryError(f"{folder}: overlaps the watched folder {other}")
            s.execute(
                self._insert_ignore(Root).values(path=str(folder), paused=False, added_at=utcnow())
            )
            root = s.scalars(select(Root).where(Root.path == str(folder))).one()
            return _root_info(root)

    def roots(self) -> list[RootInfo]:
        """Return the watched folders, by id."""
        with self._read() as s:
            return [_root_info(r) for r in s.scalars(select(Root).order_by(Root.id))]

    def root_for(self, path: str | Path) -> RootInfo | None:
        """Return the root that holds ``path``, if any."""
        target = Path(_abspath(path))
        for root in self.roots():
            if target.is_relative_to(root.path):
                return root
        return None

    def set_root_paused(self, root_id: int, paused: bool = True, *, auto: bool = False) -> None:
        """Pause (or resume) a root: claim_jobs skips the jobs of a paused root.

        ``auto`` marks a pause annotator made because the folder was unreachable:
        :meth:`resume_reachable_roots` lifts it once the folder is back. A user's
        pause is never lifted automatically, and an automatic pause never
        overrides a user's pause.
        """
        with self._write() as s:
            root = s.get(Root, root_id)
            if root is None:
                raise LibraryError(f"no root with id {root_id}")
            if paused and auto and root.paused and not root.auto_paused:
                return  # already paused by the user: keep it so
            root.paused = paused
            root.auto_paused = paused and auto

    def resume_reachable_roots(self) -> list[RootInfo]:
        """Resume the roots annotator paused as unreachable that are reachable again."""
        back = [r for r in self.roots() if r.paused and r.auto_paused and r.available]
        with self._write() as s:
            for r in back:
                s.execute(
                    update(Root)
                    .where(Root.id == r.id, Root.auto_paused)
                    .values(paused=False, auto_paused=False)
                )
        return [self._root(r.id) for r in back]

    def _root(self, root_id: int) -> RootInfo:
        with self._read() as s:
            root = s.get(Root, root_id)
            if root is None:
                raise LibraryError(f"no root with id {root_id}")
            return _root_info(root)

    def root(self, ref: int | str | Path) -> RootInfo:
        """Return a root by id, or by its folder (as the user typed it)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self._root(int(ref))
        folder = Path(ref).expanduser().resolve()
        for r in self.roots():
            if r.path == folder:
                return r
        raise LibraryError(f"{folder}: not a watched folder")

    def remove_root(self, root_id: int) -> int:
        """Stop watching a root and forget its photos and captions; return the photo count."""
        with self._write() as s:
            count = s.scalar(select(func.count()).where(Photo.root_id == root_id)) or 0
            if rowcount(s.execute(delete(Root).where(Root.id == root_id))) == 0:
                raise LibraryError(f"no root with id {root_id}")
            return int(count)

    def root_counts(self) -> dict[int, RootCounts]:
        """Return photo counts by state, and queued (pending or running) jobs, per root."""
        with self._read() as s:
            counts: dict[int, dict[str, int]] = {rid: {} for rid in s.scalars(select(Root.id))}
            rows = s.execute(
                select(Photo.root_id, Photo.state, func.count()).group_by(
                    Photo.root_id, Photo.state
                )
            )
            for root_id, state, n in rows:
                counts.setdefault(root_id, {})[PhotoState(state).value] = n
            queued = s.execute(
                select(Photo.root_id, func.count())
                .join(Job, Job.photo_id == Photo.id)
                .where(Job.state.in_([JobState.PENDING, JobState.RUNNING]))
                .group_by(Photo.root_id)
            )
            for root_id, n in queued:
                counts.setdefault(root_id, {})["queued"] = n
        return {rid: RootCounts(**c) for rid, c in counts.items()}

    # ------------------------------------------------------------------------- photos

    def upsert_photos(self, root_id: int, files: Iterable[PhotoFile]) -> list[UpsertResult]:
        """Record files found under a root, in one transaction; results in input order.

        A known path is updated (new content sets it back to pending). An unknown
        path whose content hash belongs to a missing photo, or to a photo whose file
        no longer exists, is that photo moved: it keeps its id and captions. Any
        other unknown path is a new pending photo (a copy of a known photo too).
        """
        items = [f for f in files]
        if not items:
            return []
        with self._write() as s:
            root = s.get(Root, root_id)
            if root is None:
                raise LibraryError(f"no root with id {root_id}")
            root_path = Path(root.path)
            paths = [_abspath(f.path) for f in items]
            for p in paths:
                if not is_encodable(p):
                    raise ValueError(f"{display_path(p)}: the file name is not valid UTF-8")
                if not Path(p).is_relative_to(root_path):
                    raise ValueError(f"{p} is not inside the root {root_path}")
            by_path: dict[str, Photo] = {}
            for chunk in _chunks(sorted(set(paths))):
                for photo in s.scalars(select(Photo).where(Photo.path.in_(chunk))):
                    by_path[photo.path] = photo
            unknown_hashes = sorted(
                {f.content_hash for f, p in zip(items, paths, strict=True) if p not in by_path}
            )
            same_content: dict[str, list[Photo]] = {}
            for chunk in _chunks(unknown_hashes):
                for photo in s.scalars(
                    select(Photo).where(Photo.content_hash.in_(chunk)).order_by(Photo.id)
                ):
                    same_content.setdefault(photo.content_hash, []).append(photo)
            results: dict[str, UpsertResult] = {}
            new_rows: list[dict[str, Any]] = []
            claimed: set[int] = set()  # moved-from photos already reused in this batch
            now = utcnow()
            for f, p in zip(items, paths, strict=True):
                known = by_path.get(p)
                if known is not None:
                    results[p] = self._update_known(s, known, f, root_id, now)
                    continue
                if p in results:  # the same new path twice in one batch
                    continue
                moved = self._find_moved(s, same_content.get(f.content_hash, []), claimed)
                if moved is not None:
                    claimed.add(moved.id)
                    old = Path(moved.path)
                    moved.path = p
                    moved.root_id = root_id
                    self._apply_file(moved, f)
                    moved.state = self._resting_state(s, moved.id)
                    moved.missing_since = None
                    s.flush()
                    by_path[p] = moved
                    results[p] = UpsertResult(moved.id, "moved", moved.state, old)
                    continue
                results[p] = UpsertResult(0, "new", PhotoState.PENDING)
                new_rows.append(
                    {
                        "root_id": root_id,
                        "path": p,
                        "content_hash": f.content_hash,
                        "size": int(f.size),
                        "mtime": float(f.mtime),
                        "width": f.width,
                        "height": f.height,
                        "taken_at": f.taken_at,
                        "photo_date": _photo_date(f.taken_at, f.mtime),
                        "state": PhotoState.PENDING,
                        "added_at": now,
                        "updated_at": now,
                    }
                )
            if new_rows:
                # Another indexer (PostgreSQL: another machine) may record the same new
                # file at the same moment: its row wins, and is reported as it stands.
                inserted = s.execute(
                    self._insert_ignore(Photo).returning(Photo.id, Photo.path), new_rows
                ).all()
                for photo_id, p in inserted:
                    results[p] = UpsertResult(photo_id, "new", PhotoState.PENDING)
                raced = sorted({r["path"] for r in new_rows} - {p for _, p in inserted})
                for chunk in _chunks(raced):
                    for pid, p, state in s.execute(
                        select(Photo.id, Photo.path, Photo.state).where(Photo.path.in_(chunk))
                    ):
                        results[p] = UpsertResult(pid, "unchanged", PhotoState(state))
            return [results[p] for p in paths]

    @staticmethod
    def _apply_file(photo: Photo, f: PhotoFile) -> None:
        photo.content_hash = f.content_hash
        photo.size = int(f.size)
        photo.mtime = float(f.mtime)
        photo.width = f.width
        photo.height = f.height
        photo.taken_at = f.taken_at
        photo.photo_date = _photo_date(f.taken_at, f.mtime)

    @staticmethod
    def _resting_state(s: Session, photo_id: int) -> PhotoState:
        """Return captioned if the photo has a model caption, else pending."""
        has_model = s.scalar(
            select(
                exists().where(Caption.photo_id == photo_id, Caption.source == CaptionSource.MODEL)
            )
        )
        return PhotoState.CAPTIONED if has_model else PhotoState.PENDING

    def _update_known(
        self, s: Session, photo: Photo, f: PhotoFile, root_id: int, now: datetime
    ) -> UpsertResult:
        if photo.content_hash != f.content_hash:
            status = "changed"
            self._apply_file(photo, f)
            photo.state = PhotoState.PENDING
        elif photo.state is PhotoState.MISSING:
            status = "restored"
            self._apply_file(photo, f)
            photo.state = self._resting_state(s, photo.id)
        else:
            before = (photo.size, photo.mtime, photo.width, photo.height, photo.taken_at)
            self._apply_file(photo, f)
            after = (photo.size, photo.mtime, photo.width, photo.height, photo.taken_at)
            status = "unchanged" if before == after else "updated"
        photo.root_id = root_id
        photo.missing_since = None
        return UpsertResult(photo.id, status, PhotoState(photo.state))

    @staticmethod
    def _find_moved(s: Session, candidates: list[Photo], claimed: set[int]) -> Photo | None:
        """Return a photo with this content whose file is gone (missing first), if any."""
        ordered = sorted(candidates, key=lambda p: (p.state is not PhotoState.MISSING, p.id))
        for photo in ordered:
            if photo.id in claimed:
                continue
            if photo.state is PhotoState.MISSING:
                return photo
            root = s.get(Root, photo.root_id)
            if root is not None and Path(root.path).is_dir() and not Path(photo.path).exists():
                return photo
        return None

    def photo(self, photo_id: int) -> PhotoInfo | None:
        """Return a photo by id."""
        with self._read() as s:
            photo = s.get(Photo, photo_id)
            return _photo_info(photo) if photo is not None else None

    def photo_by_path(self, path: str | Path) -> PhotoInfo | None:
        """Return the photo at ``path``."""
        with self._read() as s:
            photo = s.scalar(select(Photo).where(Photo.path == _abspath(path)))
            return _photo_info(photo) if photo is not None else None

    def known_files(self, root_id: int) -> dict[str, KnownFile]:
        """Return every photo of a root by path, to skip hashing unchanged files."""
        with self._read() as s:
            rows = s.execute(
                select(
                    Photo.path, Photo.id, Photo.size, Photo.mtime, Photo.content_hash, Photo.state
                ).where(Photo.root_id == root_id)
            )
            return {
                path: KnownFile(pid, size, mtime, chash, PhotoState(state))
                for path, pid, size, mtime, chash, state in rows
            }

    def mark_missing(self, paths: Iterable[str | Path]) -> int:
        """Mark photos whose files are gone as missing; return how many were marked.

        Photos are kept (with their captions) until :meth:`purge_missing`. Nothing is
        marked under a root that is not reachable (an unmounted drive is not a
        deletion), and a path whose file exists after all is left alone.
        """
        wanted = sorted({_abspath(p) for p in paths})
        marked = 0
        with self._write() as s:
            available: dict[int, bool] = {}
            for chunk in _chunks(wanted):
                rows = s.execute(
                    select(Photo.id, Photo.path, Photo.root_id).where(
                        Photo.path.in_(chunk), Photo.state != PhotoState.MISSING
                    )
                ).all()
                ids = []
                for photo_id, p, root_id in rows:
                    if root_id not in available:
                        root = s.get(Root, root_id)
                        available[root_id] = root is not None and Path(root.path).is_dir()
                    if available[root_id] and not Path(p).exists():
                        ids.append(photo_id)
                if ids:
                    s.execute(
                        update(Photo)
                        .where(Photo.id.in_(ids))
                        .values(state=PhotoState.MISSING, missing_since=utcnow())
                        .execution_options(synchronize_session=False)
                    )
                    marked += len(ids)
        return marked

    def set_write_pending(self, photo_ids: Iterable[int], pending: bool = True) -> int:
        """Mark photos whose caption is stored but not yet written into the file."""
        ids = sorted(set(photo_ids))
        changed = 0
        with self._write() as s:
            for chunk in _chunks(ids):
                result = s.execute(
                    update(Photo)
                    .where(Photo.id.in_(chunk), Photo.write_pending.is_(not pending))
                    .values(write_pending=pending)
                    .execution_options(synchronize_session=False)
                )
                changed += rowcount(result)
        return changed

    def pending_writes(self, limit: int = 10_000) -> list[CurrentCaption]:
        """Return the current captions of present photos whose metadata write is pending."""
        with self._read() as s:
            rows = s.execute(
                select(*_CURRENT_CAPTION)
                .join(Photo, Photo.id == Caption.photo_id)
                .where(Caption.is_current, Photo.write_pending, Photo.state != PhotoState.MISSING)
                .order_by(Caption.photo_id)
                .limit(limit)
            ).all()
            keywords = keyword_store.for_photos(s, [row[0] for row in rows])
        return [_current_caption(row, keywords) for row in rows]

    def purge_missing(self, root_id: int | None = None, older_than: timedelta | None = None) -> int:
        """Delete missing photos with their captions and attention; return how many."""
        conditions = [Photo.state == PhotoState.MISSING]
        if root_id is not None:
            conditions.append(Photo.root_id == root_id)
        if older_than is not None:
            conditions.append(Photo.missing_since <= utcnow() - older_than)
        with self._write() as s:
            result = s.execute(
                delete(Photo).where(*conditions).execution_options(synchronize_session=False)
            )
            return rowcount(result)

    # ----------------------------------------------------------------------- captions

    @staticmethod
    def _retire_current(s: Session, photo_id: int) -> int | None:
        """Unset the photo's current caption (before inserting the new one); return its id."""
        current = s.scalar(
            select(Caption.id).where(Caption.photo_id == photo_id, Caption.is_current)
        )
        if current is not None:
            s.execute(
                update(Caption)
                .where(Caption.id == current)
                .values(is_current=False)
                .execution_options(synchronize_session=False)
            )
        return current

    def add_human_revision(
        self, photo_id: int, text: str, *, reviewed: bool = True, origin: str = "gui"
    ) -> int:
        """Make ``text`` the photo's current caption, keeping every earlier revision.

        Returns the id of the new revision; if the current caption is already a
        human caption with this text, only its reviewed flag is updated and its id
        returned.
        """
        text = " ".join(text.split())
        if not text:
            raise ValueError("a caption needs some text")
        with self._write() as s:
            if s.get(Photo, photo_id) is None:
                raise LibraryError(f"no photo with id {photo_id}")
            current = s.scalar(
                select(Caption).where(Caption.photo_id == photo_id, Caption.is_current)
            )
            if (
                current is not None
                and current.source is CaptionSource.HUMAN
                and current.text == text
            ):
                current.reviewed = reviewed
                return current.id
            parent = self._retire_current(s, photo_id)
            caption = Caption(
                photo_id=photo_id,
                text=text,
                source=CaptionSource.HUMAN,
                origin=origin,
                reviewed=reviewed,
                is_current=True,
                parent_id=parent,
            )
            s.add(caption)
            s.flush()
            return caption.id

    def import_human_caption(self, path: str | Path, text: str, origin: str) -> int:
        """Record a description found in a photo's metadata as a human caption."""
        photo = self.photo_by_path(path)
        if photo is None:
            raise LibraryError(f"{path}: not in the library")
        return self.add_human_revision(photo.id, text, reviewed=True, origin=origin[:64])

    def current_caption(self, photo_id: int) -> CaptionInfo | None:
        """Return the photo's current caption (latest human revision, else latest model)."""
        with self._read() as s:
            caption = s.scalar(
                select(Caption).where(Caption.photo_id == photo_id, Caption.is_current)
            )
            return _caption_info(caption) if caption is not None else None

    def caption_history(self, photo_id: int) -> list[CaptionInfo]:
        """Return every caption of the photo, oldest first."""
        with self._read() as s:
            rows = s.scalars(
                select(Caption).where(Caption.photo_id == photo_id).order_by(Caption.id)
            )
            return [_caption_info(c) for c in rows]

    def set_reviewed(self, photo_id: int, reviewed: bool = True) -> bool:
        """Set the reviewed flag of the photo's current caption; False if it has none."""
        with self._write() as s:
            result = s.execute(
                update(Caption)
                .where(Caption.photo_id == photo_id, Caption.is_current)
                .values(reviewed=reviewed)
                .execution_options(synchronize_session=False)
            )
            return bool(rowcount(result))

    def iter_current_captions(self, batch: int = 1000) -> Iterator[CurrentCaption]:
        """Yield every present photo's current caption, by caption id, in batches."""
        after = 0
        while True:
            with self._read() as s:
                rows = s.execute(
                    select(Caption.id, *_CURRENT_CAPTION)
                    .join(Photo, Photo.id == Caption.photo_id)
                    .where(
                        Caption.is_current, Caption.id > after, Photo.state != PhotoState.MISSING
                    )
                    .order_by(Caption.id)
                    .limit(batch)
                ).all()
                keywords = keyword_store.for_photos(s, [row[1] for row in rows])
            if not rows:
                return
            for row in rows:
                yield _current_caption(row[1:], keywords)
                after = row[0]

    def current_for_write(self, photo_id: int) -> CurrentCaption | None:
        """Return the photo's current caption and keywords, as the metadata writer takes them."""
        with self._read() as s:
            row = s.execute(
                select(*_CURRENT_CAPTION)
                .join(Photo, Photo.id == Caption.photo_id)
                .where(Caption.photo_id == photo_id, Caption.is_current)
            ).first()
            if row is None:
                return None
            keywords = keyword_store.for_photos(s, [photo_id])
        return _current_caption(row, keywords)

    def keywords_to_write(self, photo_id: int, proposed: Sequence[Keyword] = ()) -> list[Keyword]:
        """Return the keywords to write into the photo (see :func:`keywords.to_write`)."""
        with self._read() as s:
            return keyword_store.to_write(s, photo_id, proposed)

    def photos_to_recaption(self, model_version: str) -> list[int]:
        """Return photos whose current caption is the model's and predates ``model_version``.

        That is a caption from another model version, or one stored before keywords
        existed (no keyword record), which re-captioning fills in.
        """
        with self._read() as s:
            return list(
                s.scalars(
                    select(Caption.photo_id)
                    .join(Photo, Photo.id == Caption.photo_id)
                    .where(
                        Caption.is_current,
                        Caption.source == CaptionSource.MODEL,
                        Photo.state != PhotoState.MISSING,
                        (Caption.model_version != model_version) | Caption.keywords.is_(None),
                    )
                    .order_by(Caption.photo_id)
                )
            )

    # ----------------------------------------------------------------------- keywords

    def keywords(self, photo_id: int, *, include_rejected: bool = False) -> list[KeywordInfo]:
        """Return the photo's keywords: a person's first, then the model's by probability."""
        with self._read() as s:
            return keyword_store.for_photos(s, [photo_id], include_rejected=include_rejected)[
                photo_id
            ]

    def add_keywords(
        self, photo_id: int, keywords: Iterable[Keyword], *, origin: str = "gui"
    ) -> int:
        """Store keywords a person gave as human keywords; return how many changed."""
        with self._write() as s:
            if s.get(Photo, photo_id) is None:
                raise LibraryError(f"no photo with id {photo_id}")
            return keyword_store.add_human(s, photo_id, keywords, origin)

    def import_human_keywords(
        self, path: str | Path, keywords: Iterable[Keyword], origin: str
    ) -> int:
        """Record keywords found in a photo's metadata as human keywords; return the count."""
        photo = self.photo_by_path(path)
        if photo is None:
            raise LibraryError(f"{path}: not in the library")
        with self._write() as s:
            return keyword_store.import_human(s, photo.id, keywords, origin)

    def remove_keyword(self, photo_id: int, word: str) -> bool:
        """Remove a keyword as a person asked (kept as rejected: no re-run adds it back)."""
        with self._write() as s:
            return keyword_store.reject(s, photo_id, word)

    # ---------------------------------------------------------------------- attention

    def attention(self, photo_id: int) -> AttentionInfo | None:
        """Return the attention maps of the photo's latest model caption that has them."""
        with self._read() as s:
            row = s.execute(
                select(Caption.id, Caption.text, AttentionMap)
                .join(AttentionMap, AttentionMap.caption_id == Caption.id)
                .where(Caption.photo_id == photo_id)
                .order_by(Caption.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        caption_id, text, stored = row
        if stored.codec != attention_codec.CODEC:
            raise LibraryError(f"caption {caption_id}: unknown attention codec {stored.codec!r}")
        maps = attention_codec.unpack(stored.data, stored.n_words, stored.height, stored.width)
        return AttentionInfo(caption_id, tuple(text.split(" ")), maps)

    def attention_for_word(self, photo_id: int, word: str) -> np.ndarray | None:
        """Return where the model looked for ``word``: an (H, W) float32 map, or None.

        Looks in the latest model caption with attention. Matching ignores case and
        punctuation; failing an exact match, a caption word that starts with
        ``word`` (3+ letters: "bic" finds "bicycle") or that ``word`` extends by up
        to 3 letters ("dogs" finds "dog") counts. A word found several times gives
        the mean of its maps.
        """
        target = _norm_word(word)
        info = self.attention(photo_id) if target else None
        if info is None:
            return None
        words = [_norm_word(w) for w in info.words]
        picks = [i for i, w in enumerate(words) if w == target]
        if not picks:
            picks = [
                i
                for i, w in enumerate(words)
                if (len(target) >= 3 and w.startswith(target))
                or (len(w) >= 3 and target.startswith(w) and len(target) - len(w) <= 3)
            ]
        if not picks:
            return None
        mean: np.ndarray = info.maps[picks].astype(np.float32).mean(axis=0)
        return mean

    # ------------------------------------------------------------------------- search

    def search(
        self,
        query: str = "",
        *,
        root_id: int | None = None,
        folder: str | Path | None = None,
        reviewed: bool | None = None,
        human_edited: bool | None = None,
        model_version: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        keyword: str | None = None,
        include_missing: bool = False,
        exact: bool = False,
        order_by: OrderBy = "relevance",
        limit: int = 50,
        offset: int = 0,
        prefix_last: bool = False,
        highlight: tuple[str, str] = ("[", "]"),
        rank_window: int | None = DEFAULT_RANK_WINDOW,
    ) -> list[SearchHit]:
        """Search current captions and keywords; see :func:`annotator.library.search.run_search`."""
        with self._read() as s:
            return run_search(
                s.connection(),
                self.fts,
                query,
                root_id=root_id,
                folder=_abspath(folder) if folder is not None else None,
                reviewed=reviewed,
                human_edited=human_edited,
                model_version=model_version,
                date_from=date_from,
                date_to=date_to,
                keyword=keyword,
                include_missing=include_missing,
                exact=exact,
                order_by=order_by,
                limit=limit,
                offset=offset,
                prefix_last=prefix_last,
                highlight=highlight,
                rank_window=rank_window,
            )

    def check_index(self) -> None:
        """Raise :class:`LibraryError` unless the full-text index matches the current captions."""
        with self._write() as s:
            self.fts.check(s.connection())

    def rebuild_index(self) -> None:
        """Re-index every current caption (repairs an index reported by check_index)."""
        with self._write() as s:
            self.fts.rebuild(s.connection())
