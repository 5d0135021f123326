"""Keep the persistent caption queue: enqueue, claim, complete, fail, release, recover.

:class:`JobQueue` is a part of :class:`~annotator.library.repository.Library` (its
front door); it uses the library's ``_read``/``_write`` sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from annotator.core.errors import LibraryError
from annotator.core.types import CaptionResult
from annotator.library import attention as attention_codec
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


class JobQueue:
    """The caption queue methods of :class:`~annotator.library.repository.Library`."""

    # Provided by Library.
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
                queued += revived.rowcount or 0
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

    def claim_jobs(self, limit: int) -> list[ClaimedJob]:
        """Atomically take up to ``limit`` pending jobs (oldest first) and mark them running.

        Jobs of paused roots and missing photos are skipped. Each claim counts as
        an attempt. Safe with several workers (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL, the write lock on SQLite): no job is handed out twice.
        """
        if limit <= 0:
            return []
        with self._write() as s:
            pick = (
                select(Job.id)
                .join(Photo, Photo.id == Job.photo_id)
                .join(Root, Root.id == Photo.root_id)
                .where(
                    Job.state == JobState.PENDING,
                    Root.paused.is_(False),
                    Photo.state != PhotoState.MISSING,
                )
                .order_by(Job.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Job)
            )
            now = utcnow()
            claimed = s.execute(
                update(Job)
                .where(Job.id.in_(pick), Job.state == JobState.PENDING)
                .values(
                    state=JobState.RUNNING,
                    attempts=Job.attempts + 1,
                    started_at=now,
                    updated_at=now,
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

    def recover(
        self, *, stale_after: timedelta | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> int:
        """Return interrupted (running) jobs to pending after a crash; return how many.

        Call it when the pipeline starts. A job already tried ``max_attempts`` times
        (a photo that crashes the worker) fails instead. On a library shared by
        several machines pass ``stale_after`` so that only jobs running for longer
        than that are taken back from other workers.
        """
        conditions = [Job.state == JobState.RUNNING]
        if stale_after is not None:
            conditions.append(Job.started_at <= utcnow() - stale_after)
        with self._write() as s:
            jobs = s.scalars(select(Job).where(*conditions)).all()
            for job in jobs:
                if job.attempts >= max_attempts:
                    self._fail(s, job, f"interrupted {job.attempts} times while captioning")
                else:
                    job.state = JobState.PENDING
                    job.last_error = "interrupted"
            return len(jobs)

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
                    .where(Job.id.in_(chunk), Job.state == JobState.RUNNING)
                    .values(
                        state=JobState.PENDING,
                        attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
                        updated_at=utcnow(),
                    )
                    .execution_options(synchronize_session=False)
                )
                released += result.rowcount or 0
        return released

    def complete_job(self, job_id: int, result: CaptionResult, model_version: str) -> int:
        """Store a job's caption, n-best and attention; return the new caption's id.

        One transaction: the model caption (current unless a person has revised the
        photo), its attention maps, the photo's state (captioned) and the job's
        removal are stored together or not at all.
        """
        return self.complete_jobs([(job_id, result, model_version)])[0]

    def complete_jobs(self, items: Sequence[tuple[int, CaptionResult, str]]) -> list[int]:
        """Complete several jobs in one transaction (see :meth:`complete_job`).

        Either every job of the batch is completed or, if one is not running, none
        is (LibraryError). Returns the new caption ids in the order of ``items``.
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
                for job_id, photo_id, state in s.execute(
                    select(Job.id, Job.photo_id, Job.state).where(Job.id.in_(chunk))
                ):
                    jobs[job_id] = (photo_id, JobState(state))
            for job_id in job_ids:
                if job_id not in jobs or jobs[job_id][1] is not JobState.RUNNING:
                    state = jobs[job_id][1].value if job_id in jobs else "gone"
                    raise LibraryError(f"job {job_id} is not running ({state}): not completed")
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
        return attention_codec.encode(attention)

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
            return int(s.execute(delete(Failure)).rowcount or 0)
