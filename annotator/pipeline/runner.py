"""Compose the stages into an indexer, used identically by the CLI and the GUI.

The indexer reports through a listener: a callable receiving plain event values
(:class:`Progress`, :class:`PhotoCaptioned`, :class:`~annotator.core.types.PhotoFailure`,
:class:`Status`, :class:`Finished`), called on the indexer's own thread. The GUI
turns them into queued Qt signals; the CLI prints them.

Crash safety comes from the library's persistent queue: jobs are claimed
atomically, a caption and its job's completion are one transaction, and
``recover()`` at start returns jobs a killed run left running to the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from annotator.core.settings import Settings
from annotator.core.types import CaptionResult, PhotoFailure
from annotator.library import ClaimedJob, Library, PhotoFile, PhotoState, RootInfo
from annotator.metadata import Outcome, WriteReport
from annotator.model.captioner import Captioner
from annotator.pipeline import stages
from annotator.pipeline.scan import iter_photos
from annotator.pipeline.write import WriteOptions, from_result, write_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSettings(Settings):
    """How to index: the user's :class:`Settings` plus what one run may ask for.

    ``model`` "" (or None) is the default model.
    """

    length_penalty: float = 0.0
    recaption_older: bool = False  # re-caption model captions from older models
    retry_failed: bool = False

    @classmethod
    def of(cls, settings: Settings, **run: Any) -> IndexSettings:
        """Return ``settings`` for indexing, with the run's options ``run`` (and overrides)."""
        shared = {f.name: getattr(settings, f.name) for f in fields(Settings)}
        return cls(**{**shared, **run})

    def same_work(self, other: IndexSettings) -> bool:
        """Return whether ``other`` captions and writes exactly as these settings do."""
        return replace(self, library="", watch=False) == replace(other, library="", watch=False)


@dataclass(frozen=True)
class Progress:
    """Queue progress: ``done`` of ``total`` photos, at ``rate`` photos/s."""

    done: int
    total: int
    rate: float
    eta: float | None  # seconds


@dataclass(frozen=True)
class PhotoCaptioned:
    """A photo got a caption (stored in the library)."""

    photo_id: int
    path: Path
    text: str
    confidence: float
    metadata: str = ""  # outcome of the metadata write, filled in when known


@dataclass(frozen=True)
class Status:
    """A human-readable note (root paused, model loaded, ...)."""

    message: str


@dataclass
class RunSummary:
    """What a run did."""

    captioned: int = 0
    skipped: int = 0  # already captioned by this model version, or unchanged
    failed: int = 0
    queued: int = 0
    moved: int = 0
    missing: int = 0
    metadata_written: int = 0
    metadata_failed: int = 0
    elapsed: float = 0.0
    stopped: bool = False
    failures: list[tuple[Path, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    """The run ended (queue empty, or stopped)."""

    summary: RunSummary


# A metadata write in flight, with the photo and caption to store once it is done.
PendingWrite = tuple[Future[WriteReport], stages.Decoded, CaptionResult]

Event = Progress | PhotoCaptioned | PhotoFailure | Status | Finished
Listener = Callable[[Event], None]


class Indexer:
    """Scan roots, keep the queue, and caption queued photos in batches."""

    def __init__(
        self,
        library: Library,
        settings: IndexSettings | None = None,
        listener: Listener | None = None,
        captioner: Captioner | None = None,
    ) -> None:
        self.library = library
        self.settings = settings or IndexSettings()
        self.listener = listener or (lambda event: None)
        self._captioner = captioner
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.summary = RunSummary()

    # ------------------------------------------------------------------ lifecycle

    @property
    def captioner(self) -> Captioner:
        """Return the captioner, loading it on first use."""
        if self._captioner is None:
            self._captioner = Captioner.load(self.settings.model or None, self.settings.device)
            self.listener(Status(f"model {self._captioner.model_id} on {self._captioner.device}"))
        return self._captioner

    def stop(self) -> None:
        """Ask the indexer to stop after the current batch (thread-safe)."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Tell a waiting indexer that new work was queued (thread-safe)."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Return whether a stop was requested."""
        return self._stop.is_set()

    # ------------------------------------------------------------------ scanning

    def add_roots(self, paths: Iterable[str | Path]) -> list[RootInfo]:
        """Watch the given folders (already watched ones are returned as they are)."""
        return [self.library.add_root(p) for p in paths]

    def scan(self, roots: Sequence[RootInfo] | None = None) -> RunSummary:
        """Find new, changed, moved and deleted photos under the roots and queue work.

        Unchanged files (same size and mtime) are not re-hashed. A root that is not
        reachable (an unmounted drive) is paused, and nothing in it is marked missing.
        """
        roots = list(roots) if roots is not None else self.library.roots()
        skip = [self.library.path] if self.library.path else []
        with ThreadPoolExecutor(max(1, self.settings.workers)) as pool:
            for root in roots:
                if not root.available:
                    self.pause_unreachable(root.path)
                    continue
                if root.paused:
                    continue
                self._scan_root(root, skip, pool)
        self.requeue()
        return self.summary

    def requeue(self) -> int:
        """Queue failed photos and older models' captions again, as the settings ask."""
        queued = 0
        if self.settings.retry_failed:
            queued += self.requeue_failed()
        if self.settings.recaption_older:
            queued += self.requeue_older()
        self.summary.queued += queued
        return queued

    def pause_unreachable(self, path: Path) -> None:
        """Pause the root at ``path``, which is not reachable: nothing in it is marked missing."""
        for info in self.library.roots():
            if info.path == path:
                self.library.set_root_paused(info.id, True)
        self.listener(Status(f"{path}: not reachable (unmounted?); paused, nothing marked missing"))

    def _scan_root(self, root: RootInfo, skip: list[Path], pool: ThreadPoolExecutor) -> None:
        known = self.library.known_files(root.id)
        seen: set[str] = set()
        todo: list[Path] = []
        for path in iter_photos(root.path, skip=skip):
            key = str(path)
            seen.add(key)
            k = known.get(key)
            try:
                st = path.stat()
            except OSError:
                continue
            if k is not None and k.size == st.st_size and k.mtime == st.st_mtime:
                if k.state is PhotoState.CAPTIONED:  # queued or failed ones are not "skipped"
                    self.summary.skipped += 1
                continue
            todo.append(path)
            if len(todo) >= 64:
                self._record_files(root, todo, pool)
                todo = []
        if todo:
            self._record_files(root, todo, pool)
        gone = [p for p in known if p not in seen and not Path(p).exists()]
        if gone and root.path.is_dir():
            self.summary.missing += self.library.mark_missing(gone)

    def _record_files(
        self, root: RootInfo, paths: Sequence[Path], pool: ThreadPoolExecutor
    ) -> None:
        described = stages.describe_files(paths, pool)
        files = [d for d in described if isinstance(d, PhotoFile)]
        for d in described:
            if isinstance(d, PhotoFailure):
                self._failed(d)
        if not files:
            return
        results = stages.record_files(self.library, root.id, files)
        for r in results:
            if r.status == "moved":
                self.summary.moved += 1
            if r.needs_caption:
                self.summary.queued += 1
            else:
                self.summary.skipped += 1

    def record_paths(self, paths: Iterable[Path]) -> int:
        """Record files reported by the watcher; return how many were queued."""
        by_root: dict[int, tuple[RootInfo, list[Path]]] = {}
        for p in paths:
            root = self.library.root_for(p)
            if root is not None and p.exists():
                by_root.setdefault(root.id, (root, []))[1].append(Path(p))
        before = self.summary.queued
        with ThreadPoolExecutor(max(1, self.settings.workers)) as pool:
            for root, ps in by_root.values():
                self._record_files(root, ps, pool)
        queued = self.summary.queued - before
        if queued:
            self.wake()
        return queued

    def requeue_failed(self) -> int:
        """Queue every failed photo again and clear the failures list; return how many."""
        ids = [f.photo_id for f in self.library.failures(limit=None) if f.photo_id is not None]
        n = self.library.enqueue(ids)
        self.library.clear_failures()
        if n:
            self.wake()
        return n

    def requeue_older(self) -> int:
        """Queue photos whose model caption is from another model version or has no keywords.

        A caption stored before keywords existed has no keyword record: re-captioning
        fills it in. Return how many photos were queued.
        """
        return self.library.enqueue(self.library.photos_to_recaption(self.captioner.ckpt.version))

    # ------------------------------------------------------------------ captioning

    def _failed(self, failure: PhotoFailure) -> None:
        self.summary.failed += 1
        self.summary.failures.append((failure.path, failure.reason))
        self.listener(failure)

    def _pending_total(self) -> int:
        counts = self.library.queue_counts()
        return sum(v for k, v in counts.items() if k.value in ("pending", "running"))

    def process(self, *, until_empty: bool = True, idle_wait: float = 1.0) -> RunSummary:
        """Caption queued photos in batches until the queue is empty (or stop()).

        With ``until_empty=False`` it waits for new work (``wake()``) instead of
        returning, as the watcher and the GUI need.
        """
        s = self.settings
        t0 = time.monotonic()
        self.library.recover()
        total = self._pending_total()
        if until_empty and total == 0:
            self.summary.elapsed = time.monotonic() - t0
            self.listener(Finished(self.summary))
            return self.summary
        captioner = self.captioner
        preset = captioner.preprocess
        version = captioner.ckpt.version
        done = 0
        pending_writes: list[tuple[Future[WriteReport], stages.Decoded, CaptionResult]] = []
        with ThreadPoolExecutor(max(1, s.workers)) as pool, ThreadPoolExecutor(1) as loader:

            def claim_and_decode() -> list[stages.Decoded | PhotoFailure]:
                jobs: list[ClaimedJob] = self.library.claim_jobs(s.batch_size)
                return stages.decode_photos(jobs, preset, pool) if jobs else []

            nxt = loader.submit(claim_and_decode)
            while True:
                batch = nxt.result()
                if not batch:
                    self._drain_writes(pending_writes, version, wait=True)
                    if until_empty or self._stop.is_set():
                        break
                    self._wake.wait(idle_wait)
                    self._wake.clear()
                    total = done + self._pending_total()
                    nxt = loader.submit(claim_and_decode)
                    continue
                if self._stop.is_set():  # claimed but not started: give the jobs back
                    ids = [stages.job_id(x) for x in batch]
                    self.library.release_jobs(i for i in ids if i is not None)
                    break
                nxt = loader.submit(claim_and_decode)  # decode the next batch meanwhile
                decoded = [b for b in batch if isinstance(b, stages.Decoded)]
                failures = [b for b in batch if isinstance(b, PhotoFailure)]
                results = stages.caption(
                    captioner, decoded, beam_size=s.beam_size, length_penalty=s.length_penalty
                )
                ok = [
                    (d, r)
                    for d, r in zip(decoded, results, strict=True)
                    if isinstance(r, CaptionResult)
                ]
                failures += [r for r in results if isinstance(r, PhotoFailure)]
                stages.fail(self.library, failures)
                for f in failures:
                    self._failed(f)
                if s.metadata == "none":
                    self._store([(d, r, None) for d, r in ok], version)
                else:  # a job completes once its caption is in the photo AND the library
                    options = WriteOptions(
                        mode=s.metadata,
                        sidecar_style=s.sidecar_style,
                        overwrite_human=s.overwrite_human,
                    )
                    for d, r in ok:
                        item = from_result(d.job.photo_id, d.job.path, r, version)
                        fut = pool.submit(write_metadata, self.library, item, options)
                        pending_writes.append((fut, d, r))
                self._drain_writes(pending_writes, version, wait=False)
                done += len(batch)
                total = max(total, done)
                elapsed = time.monotonic() - t0
                rate = done / elapsed if elapsed > 0 else 0.0
                eta = (total - done) / rate if rate > 0 else None
                self.listener(Progress(done, total, rate, eta))
            self._drain_writes(pending_writes, version, wait=True)
        self.summary.elapsed = time.monotonic() - t0
        self.summary.stopped = self._stop.is_set()
        self.listener(Finished(self.summary))
        return self.summary

    def _store(
        self, items: list[tuple[stages.Decoded, CaptionResult, WriteReport | None]], version: str
    ) -> None:
        """Complete jobs in one transaction and report each photo."""
        if not items:
            return
        stages.store(self.library, [d for d, _, _ in items], [r for _, r, _ in items], version)
        for d, r, w in items:
            self.summary.captioned += 1
            note = ""
            if w is not None:
                detail = "; ".join(w.notes)
                note = f"{w.outcome}{': ' + detail if detail else ''}"
                if w.outcome is Outcome.FAILED:
                    self.summary.metadata_failed += 1
                    log.warning("%s", detail)
                elif w.outcome is Outcome.WRITTEN:
                    self.summary.metadata_written += 1
            self.listener(PhotoCaptioned(d.job.photo_id, d.job.path, r.text, r.confidence, note))

    def _drain_writes(
        self,
        pending: list[PendingWrite],
        version: str,
        *,
        wait: bool,
    ) -> None:
        """Store the captions whose metadata writes finished (all of them with ``wait``)."""
        done: list[tuple[stages.Decoded, CaptionResult, WriteReport | None]] = []
        still: list[PendingWrite] = []
        for fut, d, r in pending:
            if wait or fut.done():
                w = fut.result()
                done.append((d, r, w))
            else:
                still.append((fut, d, r))
        pending[:] = still
        self._store(done, version)

    def run(self, paths: Iterable[str | Path] = ()) -> RunSummary:
        """Add ``paths`` as roots, scan every root, and caption everything queued."""
        t0 = time.monotonic()
        roots = self.add_roots(paths)
        self.scan(self.library.roots() if roots else None)
        self.process()
        self.summary.elapsed = time.monotonic() - t0
        return self.summary
