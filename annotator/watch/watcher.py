"""Watch roots with watchdog and report files once they have stopped changing.

watchdog fires ``created`` when a copy *starts*; a file is reported only after its
size and mtime have stayed the same for ``settle`` seconds, so copies in progress
and partial uploads are never queued. Network mounts send no events: use
``poll=True`` (watchdog's PollingObserver). A root that disappears (an unmounted
drive) is reported through ``on_root_lost``; its photos are not deleted. When it
is back, ``on_root_back`` is called and the folder is watched again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from annotator.pipeline.scan import supported_suffixes

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    size: int
    mtime: float
    stable_since: float


class StableFiles:
    """Track candidate files and release those whose size and mtime stopped changing."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._pending: dict[Path, _Pending] = {}
        self._lock = threading.Lock()

    def touch(self, path: Path) -> None:
        """Note that ``path`` was created or modified."""
        with self._lock:
            self._pending[path] = _Pending(-1, -1.0, time.monotonic())

    def forget(self, path: Path) -> None:
        """Drop ``path`` (deleted or moved away)."""
        with self._lock:
            self._pending.pop(path, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def ready(self, now: float | None = None) -> list[Path]:
        """Return (and stop tracking) the files unchanged for ``settle`` seconds."""
        now = time.monotonic() if now is None else now
        out = []
        with self._lock:
            for path, p in list(self._pending.items()):
                try:
                    st = path.stat()
                except OSError:
                    del self._pending[path]  # gone again
                    continue
                if (st.st_size, st.st_mtime) != (p.size, p.mtime):
                    p.size, p.mtime, p.stable_since = st.st_size, st.st_mtime, now
                elif st.st_size > 0 and now - p.stable_since >= self.settle:
                    out.append(path)
                    del self._pending[path]
        return out


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self.w = watcher

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.w._candidate(Path(str(event.src_path)))

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.w._candidate(Path(str(event.src_path)))

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.w._candidate(Path(str(event.src_path)))

    def on_moved(self, event: FileSystemEvent) -> None:
        src, dest = Path(str(event.src_path)), Path(str(event.dest_path))
        self.w.stable.forget(src)
        if event.is_directory:
            self.w._moved_dir(src, dest)
        elif self.w._wanted(dest):
            self.w._candidate(dest)  # the content hash maps it to the known photo
            if self.w._wanted(src):
                self.w._deleted([src])

    def on_deleted(self, event: FileSystemEvent) -> None:
        src = Path(str(event.src_path))
        self.w.stable.forget(src)
        if not event.is_directory and self.w._wanted(src):
            self.w._deleted([src])


class FolderWatcher:
    """Watch roots; call back with stable files, deleted files and lost roots.

    Callbacks run on the watcher's own thread.
    """

    def __init__(
        self,
        roots: Iterable[Path],
        *,
        on_files: Callable[[list[Path]], None],
        on_deleted: Callable[[list[Path]], None] | None = None,
        on_root_lost: Callable[[Path], None] | None = None,
        on_root_back: Callable[[Path], None] | None = None,
        poll: bool = False,
        settle: float = 2.0,
        interval: float = 0.5,
        poll_interval: float = 2.0,
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self.on_files = on_files
        self.on_deleted = on_deleted or (lambda paths: None)
        self.on_root_lost = on_root_lost or (lambda root: None)
        self.on_root_back = on_root_back or (lambda root: None)
        self.stable = StableFiles(settle)
        self.interval = interval
        self._suffixes = supported_suffixes()
        self._observer = PollingObserver(timeout=poll_interval) if poll else Observer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="annotator-watch", daemon=True)
        self._lost: set[Path] = set()
        self._watches: dict[Path, Any] = {}

    def _wanted(self, path: Path) -> bool:
        return path.suffix.lower() in self._suffixes and not any(
            part.startswith(".") for part in path.parts[-3:]
        )

    def _candidate(self, path: Path) -> None:
        if self._wanted(path):
            self.stable.touch(path)

    def _deleted(self, paths: list[Path]) -> None:
        # An unmounted drive looks like a mass deletion: check the root is still there.
        live = [p for p in paths if any(p.is_relative_to(r) and r.is_dir() for r in self.roots)]
        if live:
            self.on_deleted(live)

    def _moved_dir(self, src: Path, dest: Path) -> None:
        files = [p for p in dest.rglob("*") if p.is_file() and self._wanted(p)]
        for p in files:
            self.stable.touch(p)

    def start(self) -> None:
        """Start watching (returns at once)."""
        for root in self.roots:
            if root.is_dir():
                self._watches[root] = self._observer.schedule(
                    _Handler(self), str(root), recursive=True
                )
            else:
                self._lost.add(root)
                self.on_root_lost(root)
        self._observer.start()
        self._thread.start()

    def _rewatch(self, root: Path) -> None:
        """Schedule a remounted root again (its old watch died with the mount)."""
        old = self._watches.pop(root, None)
        if old is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(old)
        try:
            self._watches[root] = self._observer.schedule(_Handler(self), str(root), recursive=True)
        except OSError as exc:
            log.warning("%s: cannot watch the folder again (%s)", root, exc)

    def stop(self) -> None:
        """Stop watching and wait for the threads."""
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for root in self.roots:
                if root not in self._lost and not root.is_dir():
                    self._lost.add(root)
                    self.on_root_lost(root)
                elif root in self._lost and root.is_dir():
                    self._lost.discard(root)  # remounted: watch it again and rescan
                    self._rewatch(root)
                    try:
                        self.on_root_back(root)
                    except Exception:  # a callback error must not kill watching
                        log.exception("watcher callback failed for %s", root)
            ready = self.stable.ready()
            if ready:
                try:
                    self.on_files(ready)
                except Exception:  # a callback error must not kill watching
                    log.exception("watcher callback failed for %d files", len(ready))
