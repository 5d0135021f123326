"""Keep the persistent caption queue: enqueue, claim, complete, fail, release, recover.

:class:`JobQueue` is a part of :class:`~annotator.library.repository.Library` (its
front door); it uses the library's ``_read``/``_write`` sessions.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from annotator.core.display import display_path
from annotator.core.errors import LibraryError
from annotator.core.types import CaptionResult
from annotator.library import attention as attention_codec
from annotator.library import keywords as keyword_store
from annotator.library.db import rowcount
from annotator.library.schema import (
    AttentionMap,
    Caption,
    CaptionSource,
    Failure,
    Job,
    JobState,
    Photo,
    PhotoState,
    Root,
    utcnow,
)
from annotator.library.values import (
    ClaimedJob,
    FailureInfo,
    _chunks,
    _finite,
    _logprobs,
)

MAX_ATTEMPTS = 3
LEASE_S = 120.0  # a claim holds this long without a heartbeat
HEARTBEAT_S = LEASE_S / 4  # how often a worker extends its leases

_HOST = socket.gethostname()[:64]
_LIVE_OWNERS: set[str] = set()  # owners of the libraries open in this process


def new_owner() -> str:
    """Return a fresh owner id, ``host:pid:token``, and count it live in this process."""
    owner = f"{_HOST}:{os.getpid()}:{secrets.token_hex(6)}"
    _LIVE_OWNERS.add(owner)
    return owner


def end_owner(owner: str) -> None:
    """Count ``owner`` dead: its library was closed."""
    _LIVE_OWNERS.discard(owner)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def _abandoned(owner: str | None, lease_until: datetime | None, now: datetime) -> bool:
    """Return whether a running job's claim is dead: lease expired or owner process gone."""
    if owner is None or lease_until is None or lease_until <= now:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False  # another machine: only its lease tells
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _LIVE_OWNERS
    return not _pid_alive(pid)


class JobQueue:
    """The caption queue methods of :class:`~annotator.library.repository.Library`."""

    # Provided by Library.
    owner: str
    lease_s: float
    _read: Callable[[], AbstractContextManager[Session]]
    _write: Callable[[], AbstractContextManager[Session]]
    _insert_ignore: Callable[[type[Any]], Any]

    def enqueue(self, photo_ids: Iterable[int]) -> int:
        """Queue photos for captioning; return how many were queued or re-queued.

        Idempotent: a photo with a pending or running job is left alone, a failed
        job is reset to pending (attempts back to 0), missing photos are skipped.
        """
        ids = sorted(set(photo_ids))
        queued = 0
        with self._write() as s:
            for chunk in _chunks(ids):
                revived = s.execute(
                    update(Job)
                    .where(Job.photo_id.in_(chunk), Job.state == JobState.FAILED)
                    .values(state=JobState.PENDING, attempts=0)
                    .execution_options(synchronize_session=False)
                )
                queued += rowcount(revived)
                fresh = s.scalars(
                    select(Photo.id).where(
                        Photo.id.in_(chunk),
                        Photo.state != PhotoState.MISSING,
                        ~exists().where(Job.photo_id == Photo.id),
                    )
                ).all()
                if fresh:
                    now = utcnow()
                    inserted = s.execute(
                        self._insert_ignore(Job).returning(Job.id),
                        [
                            {
                                "photo_id": pid,
                                "state": JobState.PENDING,
                                "attempts": 0,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for pid in fresh
                        ],
                    )
                    queued += len(inserted.all())
        return queued

    def claim_jobs(self, limit: int, *, isolate_suspects: bool = False) -> list[ClaimedJob]:
        """Atomically take up to ``limit`` pending jobs (oldest first) and mark them running.

        Jobs of paused roots and missing photos are skipped. A claimed job belongs to
        this library's ``owner`` until its lease (``lease_s``) runs out; keep it with
        :meth:`heartbeat`. Each claim counts as an attempt until :meth:`mark_decoded`
        takes it back, so only a crash while a photo is being decoded counts against
        it. With ``isolate_suspects`` a job that was being decoded when its worker died
        is claimed alone, so that a crash then is evidence against that one photo.
        Safe with several workers (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
        lock on SQLite): no job is handed out twice.
        """
        if limit <= 0:
            return []
        with self._write() as s:
            base = (
                select(Job.id)
                .join(Photo, Photo.id == Job.photo_id)
                .join(Root, Root.id == Photo.root_id)
                .where(
                    Job.state == JobState.PENDING,
                    Root.paused.is_(False),
                    Photo.state != PhotoState.MISSING,
                )
                .order_by(Job.id)
            )
            pick = base.limit(limit)
            if isolate_suspects:
                suspect = s.scalar(base.where(Job.attempts > 0).limit(1))
                if suspect is not None:
                    pick = select(Job.id).where(Job.id == suspect)
                else:
                    pick = base.where(Job.attempts == 0).limit(limit)
            # Fetch the ids first (locked until commit): as a subquery of the UPDATE,
            # PostgreSQL may re-run the LIMIT query and claim more than ``limit`` jobs.
            ids = list(s.scalars(pick.with_for_update(skip_locked=True, of=Job)))
            if not ids:
                return []
            now = utcnow()
            claimed = s.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.state == JobState.PENDING)
                .values(
                    state=JobState.RUNNING,
                    attempts=Job.attempts + 1,
                    started_at=now,
                    updated_at=now,
                    owner=self.owner,
                    lease_until=now + timedelta(seconds=self.lease_s),
                )
                .returning(Job.id, Job.photo_id, Job.attempts)
                .execution_options(synchronize_session=False)
            ).all()
            if not claimed:
                return []
            photos = {
                pid: (path, chash)
                for pid, path, chash in s.execute(
                    select(Photo.id, Photo.path, Photo.content_hash).where(
                        Photo.id.in_([row.photo_id for row in claimed])
                    )
                )
            }
        jobs = [
            ClaimedJob(job_id, photo_id, Path(photos[photo_id][0]), photos[photo_id][1], attempts)
            for job_id, photo_id, attempts in claimed
        ]
        return sorted(jobs, key=lambda j: j.job_id)

    def mark_decoded(self, job_ids: Iterable[int]) -> int:
        """Take back the attempt a claim counted, once the photos are decoded; return how many.

        A process killed while captioning or writing is no evidence against a photo:
        only a crash while it is being decoded leaves the attempt counted.
        """
        ids = sorted(set(job_ids))
        done = 0
        with self._write() as s:
            for chunk in _chunks(ids):
                result = s.execute(
                    update(Job)
                    .where(
                        Job.id.in_(chunk),
                        Job.state == JobState.RUNNING,
                        Job.owner == self.owner,
                        Job.attempts > 0,
                    )
                    .values(attempts=Job.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
                done += rowcount(result)
        return done

    def heartbeat(self) -> int:
        """Extend the lease of every job this library runs; return how many."""
        now = utcnow()
        with self._write() as s:
            result = s.execute(
                update(Job)
                .where(Job.owner == self.owner, Job.state == JobState.RUNNING)
                .values(lease_until=now + timedelta(seconds=self.lease_s))
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    def running_jobs(self) -> list[int]:
        """Return the jobs running under this library's ownership (oldest first)."""
        with self._read() as s:
            return list(
                s.scalars(
                    select(Job.id)
                    .where(Job.owner == self.owner, Job.state == JobState.RUNNING)
                    .order_by(Job.id)
                )
            )

    def owned_jobs(self, job_ids: Iterable[int]) -> set[int]:
        """Return which of ``job_ids`` are running under this library's ownership."""
        ids = sorted(set(job_ids))
        owned: set[int] = set()
        with self._read() as s:
            for chunk in _chunks(ids):
                owned.update(
                    s.scalars(
                        select(Job.id).where(
                            Job.id.in_(chunk),
                            Job.state == JobState.RUNNING,
                            Job.owner == self.owner,
                        )
                    )
                )
        return owned

    def recover(
        self,
        *,
        stale_after: timedelta | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        own: bool = False,
    ) -> int:
        """Return abandoned running jobs to pending; return how many.

        A running job is abandoned when its lease has expired (its owner stopped
        sending heartbeats), when its owner is a process on this machine that no
        longer runs, or (with ``stale_after``) when it started longer ago than that.
        Jobs of live owners, this library's own included, are left alone, so several
        indexers (GUI, CLI, machines sharing a PostgreSQL library) can run at once. A
        job whose worker died ``max_attempts`` times while decoding its photo fails.
        With ``own`` this library's own running jobs are taken back too: the caller
        knows the workers that held them on its behalf are gone (a cluster run whose
        tasks Ray retried).
        """
        now = utcnow()
        with self._write() as s:
            running = s.scalars(
                select(Job).where(Job.state == JobState.RUNNING).with_for_update(skip_locked=True)
            ).all()
            taken = 0
            for job in running:
                stale = stale_after is not None and (
                    job.started_at is None or job.started_at <= now - stale_after
                )
                mine = own and job.owner == self.owner
                if not (mine or stale or _abandoned(job.owner, job.lease_until, now)):
                    continue
                taken += 1
                if job.attempts >= max_attempts:
                    self._fail(
                        s, job, f"interrupted {job.attempts} times while decoding this photo"
                    )
                else:
                    job.state = JobState.PENDING
                    job.last_error = "interrupted"
                job.owner = None
                job.lease_until = None
            return taken

    def release_jobs(self, job_ids: Iterable[int]) -> int:
        """Give claimed jobs back unprocessed (a clean stop); return how many.

        Running jobs go back to pending and the claim no longer counts as an attempt,
        so stopping and restarting never makes a photo fail.
        """
        ids = sorted(set(job_ids))
        released = 0
        with self._write() as s:
            for chunk in _chunks(ids):
                result = s.execute(
                    update(Job)
                    .where(
                        Job.id.in_(chunk),
                        Job.state == JobState.RUNNING,
                        Job.owner == self.owner,
                    )
                    .values(
                        state=JobState.PENDING,
                        attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
                        updated_at=utcnow(),
                        owner=None,
                        lease_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                released += rowcount(result)
        return released

    def complete_jobs(self, items: Sequence[tuple[int, CaptionResult, str]]) -> list[int]:
        """Store the jobs' captions, n-best and attention in one transaction.

        For each job: the model caption (current unless a person has revised the
        photo), its attention maps, the photo's state (captioned) and the job's
        removal are stored together or not at all. Either every job of the batch is
        completed or, if one is not running, none is (LibraryError). Returns the new
        caption ids in the order of ``items``.
        """
        if not items:
            return []
        blobs = [self._validated(job_id, result) for job_id, result, _ in items]
        job_ids = [job_id for job_id, _, _ in items]
        if len(set(job_ids)) != len(job_ids):
            raise ValueError("a job appears twice in one batch")
        with self._write() as s:
            jobs: dict[int, tuple[int, JobState]] = {}
            for chunk in _chunks(job_ids):
                for job_id, photo_id, state, owner in s.execute(
                    # locked: two workers completing the same job (a retried task
                    # racing the first) never both store a caption
                    select(Job.id, Job.photo_id, Job.state, Job.owner)
                    .where(Job.id.in_(chunk))
                    .with_for_update(of=Job)
                ):
                    jobs[job_id] = (photo_id, JobState(state))
                    if owner is not None and owner != self.owner:
                        raise LibraryError(
                            f"job {job_id} was taken over by another worker ({owner}): "
                            "not completed"
                        )
            for job_id in job_ids:
                if job_id not in jobs or jobs[job_id][1] is not JobState.RUNNING:
                    now_in = jobs[job_id][1].value if job_id in jobs else "gone"
                    raise LibraryError(f"job {job_id} is not running ({now_in}): not completed")
            photo_ids = [jobs[job_id][0] for job_id in job_ids]
            human: set[int] = set()
            for chunk in _chunks(photo_ids):
                human.update(
                    s.scalars(
                        select(Caption.photo_id)
                        .distinct()
                        .where(Caption.photo_id.in_(chunk), Caption.source == CaptionSource.HUMAN)
                    )
                )
            model_current = [pid for pid in photo_ids if pid not in human]
            for chunk in _chunks(model_current):
                s.execute(
                    update(Caption)
                    .where(Caption.photo_id.in_(chunk), Caption.is_current)
                    .values(is_current=False)
                    .execution_options(synchronize_session=False)
                )
            now = utcnow()
            rows = [
                {
                    "photo_id": photo_id,
                    "text": result.text,
                    "source": CaptionSource.MODEL,
                    "origin": None,
                    "model_id": result.model_id or None,
                    "model_version": version,
                    "beam_size": result.beam_size,
                    "score": _finite(result.score),
                    "confidence": _finite(result.confidence),
                    "word_logprobs": _logprobs(result.word_logprobs),
                    "alternatives": [
                        {
                            "text": a.text,
                            "score": _finite(a.score, 4),
                            "word_logprobs": _logprobs(a.word_logprobs),
                        }
                        for a in result.alternatives
                    ],
                    "keywords": keyword_store.as_json(result.keywords),
                    "reviewed": False,
                    "is_current": photo_id not in human,
                    "parent_id": None,
                    "created_at": now,
                }
                for photo_id, (_, result, version) in zip(photo_ids, items, strict=True)
            ]
            caption_ids = list(
                s.scalars(insert(Caption).returning(Caption.id, sort_by_parameter_order=True), rows)
            )
            s.execute(
                insert(AttentionMap),
                [
                    {
                        "caption_id": cid,
                        "n_words": result.attention.shape[0],
                        "height": result.attention.shape[1],
                        "width": result.attention.shape[2],
                        "codec": attention_codec.CODEC,
                        "data": blob,
                    }
                    for cid, (_, result, _), blob in zip(caption_ids, items, blobs, strict=True)
                ],
            )
            keyword_store.store_model(
                s,
                [
                    (photo_id, result.keywords, result.model_id or None, version)
                    for photo_id, (_, result, version) in zip(photo_ids, items, strict=True)
                ],
            )
            for chunk in _chunks(photo_ids):
                s.execute(
                    update(Photo)
                    .where(Photo.id.in_(chunk), Photo.state != PhotoState.MISSING)
                    .values(state=PhotoState.CAPTIONED, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            for chunk in _chunks(job_ids):
                s.execute(
                    delete(Job)
                    .where(Job.id.in_(chunk))
                    .execution_options(synchronize_session=False)
                )
        return caption_ids

    @staticmethod
    def _validated(job_id: int, result: CaptionResult) -> bytes:
        if not result.words:
            raise ValueError(f"job {job_id}: the caption has no words")
        attention = np.asarray(result.attention)
        if attention.ndim != 3 or attention.shape[0] != len(result.words):
            raise ValueError(
                f"job {job_id}: attention must be (T, H, W) with T = {len(result.words)} words, "
                f"got {attention.shape}"
            )
        return attention_codec.pack(attention)

    def fail_job(
        self, job_id: int, reason: str, *, retry: bool = False, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        """Record that a job failed: back to pending if ``retry`` and attempts are left.

        Otherwise the job and the photo are marked failed and the reason goes to
        the failures table.
        """
        with self._write() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise LibraryError(f"no job with id {job_id}")
            if retry and job.attempts < max_attempts:
                job.state = JobState.PENDING
                job.last_error = reason
            else:
                self._fail(s, job, reason)

    @staticmethod
    def _fail(s: Session, job: Job, reason: str) -> None:
        job.state = JobState.FAILED
        job.last_error = reason
        photo = s.get(Photo, job.photo_id)
        if photo is None:
            return
        if photo.state is not PhotoState.MISSING:
            photo.state = PhotoState.FAILED
        s.add(Failure(photo_id=photo.id, path=photo.path, reason=reason))

    def queue_counts(self) -> dict[JobState, int]:
        """Return the number of jobs in each state."""
        with self._read() as s:
            rows = s.execute(select(Job.state, func.count()).group_by(Job.state))
            counts = {state: 0 for state in JobState}
            counts.update({JobState(state): n for state, n in rows})
            return counts

    def failures(self, limit: int | None = 100) -> list[FailureInfo]:
        """Return recorded failures, newest first."""
        with self._read() as s:
            stmt = select(Failure).order_by(Failure.id.desc()).limit(limit)
            return [
                FailureInfo(f.id, f.photo_id, Path(f.path), f.reason, f.created_at)
                for f in s.scalars(stmt)
            ]

    def clear_failures(self) -> int:
        """Forget every recorded failure; return how many."""
        with self._write() as s:
            return rowcount(s.execute(delete(Failure)))

    def record_failure(self, path: str | Path, reason: str) -> bool:
        """Record a file that failed before it became a photo (unreadable, bad name).

        ``path`` may hold undecodable bytes (surrogate escapes): it is stored in its
        escaped display form. The same path and reason are recorded once; returns
        whether a row was added.
        """
        where = display_path(path)
        with self._write() as s:
            known = s.scalar(
                select(Failure.id).where(Failure.path == where, Failure.reason == reason).limit(1)
            )
            if known is not None:
                return False
            s.add(Failure(photo_id=None, path=where, reason=reason))
            return True
