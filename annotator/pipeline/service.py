"""Run the indexer for as long as an app or ``annotator index --watch`` lives.

:class:`IndexService` is the one long-running indexer, shared by the desktop app
and ``annotator index --watch``. It owns three kinds of threads:

* the captioning thread: ``Indexer.process(until_empty=False)``, woken when work
  is queued, stopped by :meth:`IndexService.stop` after the current batch, and
  started again after an unexpected error;
* one scanning thread: ``Indexer.scan(roots)`` for added folders and at start,
  then (re)starting the :class:`~annotator.watch.watcher.FolderWatcher`;
* the watcher's threads: new files are registered and queued, deleted ones
  marked missing, and a root that goes away (an unmounted drive) is paused.

Everything is reported through ``listener``: the indexer's events
(:mod:`annotator.pipeline.runner`) and the service's own (:class:`ModelReady`,
:class:`ModelFailed`, :class:`Scanned`, :class:`FilesRemoved`,
:class:`IndexingStopped`), called on the service's threads. The queue lives in
the library, so stopping at any moment loses nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.core.threads import freeze_heap, lower_this_thread
from annotator.pipeline.runner import Indexer, IndexSettings, RunSummary, Status

if TYPE_CHECKING:
    from annotator.library import Library, RootInfo
    from annotator.model.captioner import Captioner
    from annotator.watch.watcher import FolderWatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelReady:
    """The captioning model is loaded: its id and a readable device name."""

    model_id: str
    device: str


@dataclass(frozen=True)
class ModelFailed:
    """The model could not be loaded; indexing waits for another model in the settings."""

    reason: str


@dataclass(frozen=True)
class Scanned:
    """A scan (or a watcher report) recorded files: ``queued`` new jobs."""

    root_ids: tuple[int, ...]
    queued: int


@dataclass(frozen=True)
class FilesRemoved:
    """The watcher saw photos deleted; ``marked`` were marked missing."""

    paths: tuple[Path, ...]
    marked: int


@dataclass(frozen=True)
class IndexingStopped:
    """The captioning thread ended (stopped, or the model failed to load)."""

    generation: int


def describe_device(device: object) -> str:
    """Return a readable name for a torch device: "CPU" or the GPU's name."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        try:
            import torch

            return f"GPU: {torch.cuda.get_device_name(device)}"  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a name is only decoration
            return "GPU (CUDA)"
    if kind == "mps":
        return "GPU: Apple (MPS)"
    return "CPU"


class IndexService:
    """Caption queued photos, scan folders and watch them, on background threads.

    ``background=True`` lowers the threads' CPU priority and freezes the loaded
    model's objects out of the garbage collector's way (what an app with a GUI
    thread to keep responsive needs).
    """

    def __init__(
        self,
        library: Library,
        settings: IndexSettings,
        listener: Callable[[object], None],
        *,
        captioner: Captioner | None = None,
        watch: bool = True,
        poll: bool = False,
        retry_wait: float = 2.0,
        background: bool = False,
    ) -> None:
        self.library = library
        self.settings = settings
        self._listener = listener
        self.watch = watch
        self.poll = poll
        self.retry_wait = retry_wait
        self.background = background
        self._captioner = captioner
        self._captioner_key = self._key(settings) if captioner is not None else None
        self.indexer: Indexer | None = None
        self._thread: threading.Thread | None = None
        self._scan_pool = ThreadPoolExecutor(1, thread_name_prefix="annotator-scan")
        self._scans: list[Future[None]] = []
        self._watcher: FolderWatcher | None = None
        self._watch_lock = threading.Lock()
        self._scanner = Indexer(library, self._scan_settings(settings), self.emit)
        self._earlier: list[RunSummary] = []  # what earlier captioning threads did
        self.generation = 0
        self._halt = threading.Event()  # set by stop(): cuts short the wait after an error
        self._ended = threading.Event()  # set by the captioning thread as it returns
        self._closed = False

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _key(settings: IndexSettings) -> tuple[str | None, str, str, str]:
        return settings.model, settings.device, settings.engine, settings.precision

    @staticmethod
    def _scan_settings(settings: IndexSettings) -> IndexSettings:
        """Return settings for scans: requeueing is the captioning thread's, once."""
        return replace(settings, retry_failed=False, recaption_older=False)

    def emit(self, event: object) -> None:
        """Report ``event``; a listener gone at shutdown is ignored."""
        try:
            self._listener(event)
        except RuntimeError:  # e.g. the Qt side was deleted while a thread finished
            log.debug("event after shutdown: %r", event)

    def summary(self) -> RunSummary:
        """Return what the scans and the captioning threads did so far."""
        parts = [*self._earlier, self._scanner.summary]
        if self.indexer is not None:
            parts.append(self.indexer.summary)
        total = RunSummary()
        for part in parts:
            total.captioned += part.captioned
            total.skipped += part.skipped
            total.failed += part.failed
            total.queued += part.queued
            total.moved += part.moved
            total.missing += part.missing
            total.metadata_written += part.metadata_written
            total.metadata_failed += part.metadata_failed
            total.failures += part.failures
            total.elapsed += part.elapsed if part is not self._scanner.summary else 0.0
            total.stopped = total.stopped or part.stopped
        return total

    # ------------------------------------------------------------------ captioning

    @property
    def running(self) -> bool:
        """Return whether the captioning thread is at work (not ended, not ending)."""
        return self._thread is not None and self._thread.is_alive() and not self._ended.is_set()

    def start(self) -> None:
        """Start the captioning thread (loads the model first; returns at once)."""
        if self._closed or self.running:
            return
        if self._thread is not None:
            self._thread.join(5.0)  # it has reported IndexingStopped: it is returning
        if self.indexer is not None:
            self._earlier.append(self.indexer.summary)
        self._ended = threading.Event()
        self.generation += 1
        self._halt = threading.Event()
        captioner = self._captioner if self._captioner_key == self._key(self.settings) else None
        self.indexer = Indexer(self.library, self.settings, self.emit, captioner=captioner)
        self._thread = threading.Thread(
            target=self._run,
            args=(self.indexer, self.generation),
            name="annotator-index",
            daemon=True,
        )
        self._thread.start()

    def set_settings(self, settings: IndexSettings) -> None:
        """Use ``settings`` from the next :meth:`start` (scans use them at once)."""
        self.settings = settings
        summary = self._scanner.summary
        self._scanner = Indexer(self.library, self._scan_settings(settings), self.emit)
        self._scanner.summary = summary

    def _run(self, indexer: Indexer, generation: int) -> None:
        if self.background:
            lower_this_thread()  # its decode and metadata threads inherit this
        try:
            try:
                captioner = indexer.captioner
            except Exception as exc:  # noqa: BLE001 - reported; the app stays usable
                log.warning("cannot load the model: %s", exc)
                self.emit(ModelFailed(str(exc)))
                return
            self._captioner = captioner
            self._captioner_key = self._key(indexer.settings)
            if self.background:
                freeze_heap()  # the model's objects live as long as the app
            self.emit(ModelReady(captioner.model_id, describe_device(captioner.device)))
            if generation == 1:
                indexer.requeue()  # --retry-failed, --recaption-older: once per service
            while not indexer.stopping:
                try:
                    indexer.process(until_empty=False)
                except Exception as exc:
                    log.exception("indexing failed; starting again")
                    self.emit(Status(f"indexing hit an error and starts again: {exc}"))
                    self._halt.wait(self.retry_wait)
        finally:
            self._ended.set()
            self.emit(IndexingStopped(generation))

    def wake(self) -> None:
        """Tell the captioning thread that work was queued."""
        if self.indexer is not None:
            self.indexer.wake()

    def stop(self) -> None:
        """Ask the captioning thread to stop after the current batch (returns at once)."""
        self._halt.set()
        if self.indexer is not None:
            self.indexer.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the captioning thread to end; return whether it did."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def retry_failed(self) -> int:
        """Queue every failed photo again (and wake the captioning thread); return how many."""
        n = self._scanner.requeue_failed()
        self.wake()
        return n

    # ------------------------------------------------------------------ scanning

    def scan(self, roots: Sequence[RootInfo] | None = None) -> Future[None]:
        """Scan ``roots`` (every root when None) on the scanning thread, then watch them."""
        future = self._scan_pool.submit(self._scan, list(roots) if roots is not None else None)
        self._scans = [f for f in self._scans if not f.done()] + [future]
        return future

    def rewatch(self) -> None:
        """Watch the library's current roots (after one was removed, say)."""
        if not self._closed:
            self._scan_pool.submit(self._rewatch)

    @property
    def watched(self) -> list[Path]:
        """Return the folders watched now."""
        with self._watch_lock:
            return list(self._watcher.roots) if self._watcher is not None else []

    def _scan(self, roots: list[RootInfo] | None) -> None:
        if self.background:
            lower_this_thread()
        try:
            before = self._scanner.summary.queued
            self._scanner.scan(roots)
            queued = self._scanner.summary.queued - before
            self.wake()
            ids = tuple(r.id for r in roots) if roots is not None else ()
            self.emit(Scanned(ids, queued))
            self._rewatch()
        except Exception as exc:
            log.exception("scan failed")
            self.emit(Status(f"scan failed: {exc}"))

    def _rewatch(self) -> None:
        from annotator.watch.watcher import FolderWatcher

        roots = [r.path for r in self.library.roots()] if self.watch and not self._closed else []
        with self._watch_lock:
            if self._watcher is not None and self._watcher.roots == roots:
                return
            old, self._watcher = self._watcher, None
            if old is not None:
                old.stop()
            if roots and not self._closed:
                watcher = FolderWatcher(
                    roots,
                    on_files=self._on_files,
                    on_deleted=self._on_deleted,
                    on_root_lost=self._on_root_lost,
                    on_root_back=self._on_root_back,
                    poll=self.poll,
                )
                watcher.start()
                self._watcher = watcher

    def _on_files(self, paths: list[Path]) -> None:
        queued = self._scanner.record_paths(paths)
        self.wake()
        self.emit(Scanned((), queued))

    def _on_deleted(self, paths: list[Path]) -> None:
        marked = self.library.mark_missing(paths)
        self.emit(FilesRemoved(tuple(paths), marked))

    def _on_root_lost(self, root: Path) -> None:
        self._scanner.pause_unreachable(root)
        self.emit(Scanned((), 0))

    def _on_root_back(self, root: Path) -> None:
        """Resume a root that is reachable again and scan what changed while it was away."""
        back = [r for r in self.library.roots() if r.path == root and r.auto_paused]
        if back:
            self.scan(back)  # the scan resumes it first

    # ------------------------------------------------------------------ shutdown

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop everything and wait (up to ``timeout`` s for captioning); return if it ended."""
        self._closed = True
        self.stop()
        with self._watch_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        self._scan_pool.shutdown(wait=False, cancel_futures=True)
        if self._scans:  # a scan is not interruptible; one cut short loses nothing
            wait_futures(self._scans, timeout=2.0 if timeout is None else min(timeout, 2.0))
        return self.wait(timeout)
