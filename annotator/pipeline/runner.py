"""Compose the stages into an indexer, used identically by the CLI and the GUI.

The indexer reports through a listener: a callable receiving plain event values
(:class:`Progress`, :class:`PhotoCaptioned`, :class:`~annotator.core.types.PhotoFailure`,
:class:`Status`, :class:`Finished`), called on the indexer's own thread. The GUI
turns them into queued Qt signals; the CLI prints them.

Crash safety comes from the library's persistent queue: jobs are claimed
atomically under this process's lease (kept alive by a heartbeat thread), a
caption and its job's completion are one transaction, and ``recover()`` returns
the jobs of dead or expired workers to the queue, so several indexers can share
a library. Stale temporary files of dead writers are removed while scanning,
and a caption whose write into the photo failed is written again on the next run.
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

from annotator.core.display import display_path, is_encodable
from annotator.core.errors import LibraryError
from annotator.core.settings import DEFAULT_LENGTH_PENALTY, Settings
from annotator.core.types import CaptionResult, PhotoFailure
from annotator.library import HEARTBEAT_S, ClaimedJob, Library, PhotoFile, PhotoState, RootInfo
from annotator.metadata import Outcome, WriteReport, cleanup_stale_temp_files
from annotator.model.captioner import Captioner
from annotator.model.runtime.engine import cpu_threads
from annotator.pipeline import stages
from annotator.pipeline.scan import iter_photos
from annotator.pipeline.write import WriteOptions, from_result, write_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSettings(Settings):
    """How to index: the user's :class:`Settings` plus what one run may ask for.

    ``model`` "" (or None) is the default model.
    """

    length_penalty: float = DEFAULT_LENGTH_PENALTY
    guidance: str = "tags"  # tags: captions name confident keywords; none: plain beam search
    recaption_older: bool = False  # re-caption model captions from older models
    retry_failed: bool = False
    follow_links: bool = False  # write photos whose real file is outside the roots
    engine: str = "auto"  # encoder engine: auto, torch or onnx
    precision: str = "auto"  # encoder precision: auto, fp32 or int8
    decode_ahead: int = 2  # claim and decode this many encoder batches at once

    @property
    def claim_size(self) -> int:
        """Return how many jobs are claimed and decoded together (a multiple of the batch)."""
        return self.batch_size * max(1, self.decode_ahead)

    @property
    def threads(self) -> int:
        """Return the decoding / hashing / metadata threads (``workers`` 0: one per core)."""
        return max(1, self.workers or cpu_threads())

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
    keywords: tuple[str, ...] = ()  # the model's keywords, most probable first


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
    remaining: int = 0  # photos still without a caption when the run ended
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
            s = self.settings
            self._captioner = Captioner.load(
                s.model or None, s.device, engine=s.engine, precision=s.precision
            )
            cap = self._captioner
            note = f" ({cap.engine.note})" if cap.engine.note else ""
            self.listener(
                Status(f"model {cap.model_id} on {cap.device}, encoder {cap.engine_name}{note}")
            )
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
        back = {r.id for r in self.resume_reachable()}
        roots = [
            self.library.root(r.id) if r.id in back else r
            for r in (list(roots) if roots is not None else self.library.roots())
        ]
        skip = [self.library.path] if self.library.path else []
        with ThreadPoolExecutor(self.settings.threads) as pool:
            for root in roots:
                if not root.available:
                    self.pause_unreachable(root.path)
                    continue
                if root.paused:
                    self.listener(
                        Status(
                            f"{root.path}: paused; nothing is captioned there "
                            f"(annotator roots resume {root.id})"
                        )
                    )
                    continue
                self._scan_root(root, skip, pool)
        self.requeue()
        return self.summary

    def resume_reachable(self) -> list[RootInfo]:
        """Resume the roots paused as unreachable that are back; report each."""
        back = self.library.resume_reachable_roots()
        for root in back:
            self.listener(Status(f"{root.path}: reachable again; resumed"))
        return back

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
                self.library.set_root_paused(info.id, True, auto=True)
        self.listener(Status(f"{path}: not reachable (unmounted?); paused, nothing marked missing"))

    def _scan_root(self, root: RootInfo, skip: list[Path], pool: ThreadPoolExecutor) -> None:
        known = self.library.known_files(root.id)
        seen: set[str] = set()
        todo: list[Path] = []
        folders: set[Path] = {root.path}
        for path in iter_photos(root.path, skip=skip):
            key = str(path)
            seen.add(key)
            if path.parent not in folders:
                folders.add(path.parent)
            if not is_encodable(path):
                self._failed(PhotoFailure(path, stages.UNDECODABLE_NAME))
                continue
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
        if self.settings.metadata != "none":
            for folder in sorted(folders):  # temporaries of writers killed mid-write
                for stale in cleanup_stale_temp_files(folder):
                    log.info("removed stale temporary file %s", stale)

    def _record_files(
        self, root: RootInfo, paths: Sequence[Path], pool: ThreadPoolExecutor
    ) -> None:
        good = [p for p in paths if is_encodable(p)]
        for p in paths:
            if not is_encodable(p):  # from the watcher: the scanner filters these itself
                self._failed(PhotoFailure(p, stages.UNDECODABLE_NAME))
        described = stages.describe_files(good, pool)
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
        with ThreadPoolExecutor(self.settings.threads) as pool:
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
        """Count and report a failure; one without a job is recorded here."""
        self.summary.failed += 1
        self.summary.failures.append((failure.path, failure.reason))
        if failure.job_id is None:
            try:
                self.library.record_failure(failure.path, failure.reason)
            except LibraryError as exc:
                log.warning("%s: could not record the failure: %s", display_path(failure.path), exc)
        self.listener(failure)

    def _pending_total(self) -> int:
        counts = self.library.queue_counts()
        return sum(v for k, v in counts.items() if k.value in ("pending", "running"))

    def process(self, *, until_empty: bool = True, idle_wait: float = 1.0) -> RunSummary:
        """Caption queued photos in batches until the queue is empty (or stop()).

        With ``until_empty=False`` it waits for new work (``wake()``) instead of
        returning, as the watcher and the GUI need.
        """
        t0 = time.monotonic()
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(beat,), daemon=True)
        heart.start()
        try:
            self._process(until_empty=until_empty, idle_wait=idle_wait, t0=t0)
        finally:
            beat.set()
            heart.join()
        self.summary.remaining = self._not_captioned()
        self.summary.elapsed = time.monotonic() - t0
        self.summary.stopped = self._stop.is_set()
        self.listener(Finished(self.summary))
        return self.summary

    def _heartbeat(self, done: threading.Event) -> None:
        """Extend this process's job leases until ``done`` (runs on its own thread)."""
        while not done.wait(HEARTBEAT_S):
            try:
                self.library.heartbeat()
            except LibraryError as exc:
                log.warning("could not extend the job leases: %s", exc)

    def _not_captioned(self) -> int:
        try:
            return sum(c.pending for c in self.library.root_counts().values())
        except LibraryError:
            return 0

    def _process(self, *, until_empty: bool, idle_wait: float, t0: float) -> None:
        s = self.settings
        self.library.recover()
        if s.metadata != "none":
            self._retry_writes()
        total = self._pending_total()
        if until_empty and total == 0:
            return
        captioner = self.captioner
        preset = captioner.preprocess
        version = captioner.ckpt.version
        done = 0
        pending_writes: list[tuple[Future[WriteReport], stages.Decoded, CaptionResult]] = []
        with ThreadPoolExecutor(s.threads) as pool, ThreadPoolExecutor(1) as loader:

            def claim_and_decode() -> list[stages.Decoded | PhotoFailure]:
                jobs: list[ClaimedJob] = self.library.claim_jobs(
                    s.claim_size, isolate_suspects=True
                )
                if not jobs:
                    return []
                out = stages.decode_photos(jobs, preset, pool)
                # decoded without crashing: a later kill is no evidence against these photos
                self.library.mark_decoded(j.job_id for j in jobs)
                return out

            nxt = loader.submit(claim_and_decode)
            while True:
                batch = nxt.result()
                if not batch:
                    self._drain_writes(pending_writes, version, wait=True)
                    if until_empty or self._stop.is_set():
                        break
                    self._wake.wait(idle_wait)
                    self._wake.clear()
                    self.library.recover()  # jobs of workers that died meanwhile
                    total = done + self._pending_total()
                    nxt = loader.submit(claim_and_decode)
                    continue
                nxt = loader.submit(claim_and_decode)  # decode the next batch meanwhile
                for lo in range(0, len(batch), s.batch_size):
                    if self._stop.is_set():  # claimed but not started: give the jobs back
                        self._release(batch[lo:])
                        break
                    chunk = batch[lo : lo + s.batch_size]
                    self._caption_chunk(chunk, pool, pending_writes, version)
                    done += len(chunk)
                    total = max(total, done)
                    elapsed = time.monotonic() - t0
                    rate = done / elapsed if elapsed > 0 else 0.0
                    eta = (total - done) / rate if rate > 0 else None
                    self.listener(Progress(done, total, rate, eta))
                if self._stop.is_set():
                    self._release(nxt.result())  # decoded ahead, never started
                    break
            self._drain_writes(pending_writes, version, wait=True)

    def _write_roots(self) -> list[Path] | None:
        """Return the folders photos may be written in (None: anywhere, --follow-links)."""
        if self.settings.follow_links:
            return None
        return [r.path.resolve() for r in self.library.roots()]

    def _retry_writes(self) -> None:
        """Write captions that are in the library but whose write into the photo failed."""
        rows = self.library.pending_writes()
        if not rows:
            return
        s = self.settings
        options = WriteOptions(
            mode=s.metadata,
            sidecar_style=s.sidecar_style,
            overwrite_human=s.overwrite_human,
            within=self._write_roots(),
        )
        written = write_metadata(self.library, rows, options)
        done = []
        for row, w in zip(rows, written, strict=True):
            if w.outcome is Outcome.FAILED:
                self.summary.metadata_failed += 1
                note = "; ".join(w.notes)
                self.listener(Status(f"{row.path}: writing the caption failed: {note}"))
                continue
            done.append(row.photo_id)
            if w.outcome is Outcome.WRITTEN:
                self.summary.metadata_written += 1
        self.library.set_write_pending(done, False)

    def _caption_chunk(
        self,
        chunk: list[stages.Decoded | PhotoFailure],
        pool: ThreadPoolExecutor,
        pending_writes: list[tuple[Future[WriteReport], stages.Decoded, CaptionResult]],
        version: str,
    ) -> None:
        """Caption one encoder batch, record its failures and start its metadata writes."""
        s = self.settings
        decoded = [b for b in chunk if isinstance(b, stages.Decoded)]
        failures = [b for b in chunk if isinstance(b, PhotoFailure)]
        results = stages.caption(
            self.captioner,
            decoded,
            beam_size=s.beam_size,
            length_penalty=s.length_penalty,
            guidance=s.guidance,
        )
        ok = [(d, r) for d, r in zip(decoded, results, strict=True) if isinstance(r, CaptionResult)]
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
                within=self._write_roots(),
            )
            for d, r in ok:
                item = from_result(d.job.photo_id, d.job.path, r, version)
                fut = pool.submit(write_metadata, self.library, item, options)
                pending_writes.append((fut, d, r))
        self._drain_writes(pending_writes, version, wait=False)

    def _release(self, batch: Sequence[stages.Decoded | PhotoFailure]) -> None:
        """Give back claimed jobs that were decoded but not captioned."""
        ids = [stages.job_id(x) for x in batch]
        self.library.release_jobs(i for i in ids if i is not None)

    def _store(
        self, items: list[tuple[stages.Decoded, CaptionResult, WriteReport | None]], version: str
    ) -> None:
        """Complete jobs in one transaction and report each photo."""
        if not items:
            return
        try:
            stages.store(self.library, [d for d, _, _ in items], [r for _, r, _ in items], version)
        except LibraryError as exc:
            # A lease ran out (the process was stopped too long) and another worker took
            # some jobs over: store the ones still ours; the others are theirs now.
            owned = self.library.owned_jobs(d.job.job_id for d, _, _ in items)
            lost = [d for d, _, _ in items if d.job.job_id not in owned]
            log.warning("%s; %d job(s) taken over by another worker", exc, len(lost))
            items = [it for it in items if it[0].job.job_id in owned]
            if items:
                stages.store(
                    self.library, [d for d, _, _ in items], [r for _, r, _ in items], version
                )
        failed_writes = [
            d.job.photo_id for d, _, w in items if w is not None and w.outcome == "failed"
        ]
        if failed_writes:
            self.library.set_write_pending(failed_writes, True)
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
            words = tuple(k.word for k in r.keywords)
            self.listener(
                PhotoCaptioned(d.job.photo_id, d.job.path, r.text, r.confidence, note, words)
            )

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
