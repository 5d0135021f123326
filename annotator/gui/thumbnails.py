"""Load thumbnails on background threads, newest request first, with a disk and memory cache."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from annotator.core.settings import cache_dir
from annotator.core.threads import lower_this_thread
from annotator.gui.images import THUMB_SIZE, thumbnail

log = logging.getLogger(__name__)


def default_thumbnail_cache() -> Path:
    """Return the on-disk thumbnail cache folder."""
    return cache_dir() / "thumbs"


class ThumbnailLoader(QObject):
    """Hand out thumbnails as QPixmaps; make missing ones on worker threads.

    ``pixmap(path)`` returns a cached pixmap or None; in the latter case the
    thumbnail is queued (the most recent requests first: what is on screen now)
    and ``sig_ready(path)`` is emitted on the GUI thread once it is there.
    Photos that cannot be read are reported by ``failed(path)``.
    """

    sig_ready = Signal(str)
    sig_batch_ready = Signal(list)  # the paths of a burst of thumbnails, after sig_ready
    _sig_flush = Signal()

    def __init__(
        self,
        cache: Path | None = None,
        *,
        threads: int = 2,
        capacity: int = 600,
        max_queue: int = 400,
        size: int = THUMB_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.cache = cache
        self.size = size
        self.capacity = capacity
        self.max_queue = max_queue
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed: set[str] = set()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._ready: list[tuple[str, QImage | None]] = []
        self._sig_flush.connect(self._flush, Qt.ConnectionType.QueuedConnection)
        self._threads = [
            threading.Thread(target=self._work, name=f"annotator-thumbs-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for t in self._threads:
            t.start()

    def pixmap(self, path: str) -> QPixmap | None:
        """Return the thumbnail of ``path`` if loaded; otherwise queue it and return None."""
        pm = self._pixmaps.get(path)
        if pm is not None:
            self._pixmaps.move_to_end(path)
            return pm
        if path not in self._failed:
            self.request(path)
        return None

    def failed(self, path: str) -> bool:
        """Return whether ``path`` could not be made into a thumbnail."""
        return path in self._failed

    def forget(self, path: str) -> None:
        """Drop the cached pixmap of ``path`` (the file changed)."""
        self._pixmaps.pop(path, None)
        self._failed.discard(path)

    def request(self, path: str) -> None:
        """Queue ``path`` ahead of earlier requests."""
        with self._cond:
            if self._stopped:
                return
            if path in self._queued:
                try:  # bring it to the front: it was asked for again
                    self._queue.remove(path)
                except ValueError:
                    return  # being made right now
            self._queue.appendleft(path)
            self._queued.add(path)
            while len(self._queue) > self.max_queue:  # scrolled away long ago: drop
                self._queued.discard(self._queue.pop())
            self._cond.notify()

    @property
    def busy(self) -> bool:
        """Return whether thumbnails are queued or being made."""
        with self._cond:
            return bool(self._queued)

    def _work(self) -> None:
        lower_this_thread()
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                path = self._queue.popleft()
            image: QImage | None
            try:
                image = thumbnail(path, self.cache, self.size)
            except Exception as exc:  # noqa: BLE001 - any unreadable photo gets a placeholder
                log.debug("no thumbnail for %s: %s", path, exc)
                image = None
            with self._cond:
                self._ready.append((path, image))
                first = len(self._ready) == 1
            if first:
                try:
                    self._sig_flush.emit()
                except RuntimeError:  # deleted during shutdown
                    return

    def _flush(self) -> None:
        """Turn finished QImages into QPixmaps (GUI thread), one burst at a time."""
        with self._cond:
            ready, self._ready = self._ready, []
            for path, _ in ready:
                self._queued.discard(path)
        for path, image in ready:
            if isinstance(image, QImage) and not image.isNull():
                self._pixmaps[path] = QPixmap.fromImage(image)
                while len(self._pixmaps) > self.capacity:
                    self._pixmaps.popitem(last=False)
            else:
                self._failed.add(path)
            self.sig_ready.emit(path)
        if ready:
            self.sig_batch_ready.emit([p for p, _ in ready])

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the worker threads (a thumbnail being made is finished first)."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._queued.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
