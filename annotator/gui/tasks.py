"""Run blocking calls (database reads and writes, photo decoding) off the GUI thread.

Results come back through a queued signal, so callbacks always run on the GUI
thread, after the call that submitted them has returned. Results that arrive
together are delivered in one go (one wake-up of the GUI thread).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class Tasks(QObject):
    """Submit callables to a small thread pool and get their results on the GUI thread."""

    sig_idle = Signal()  # every submitted call has reported back
    _sig_flush = Signal()

    def __init__(
        self, workers: int = 2, parent: QObject | None = None, name: str = "annotator-gui"
    ) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
        self._callbacks: dict[int, tuple[Callback | None, ErrorCallback | None]] = {}
        self._next = 0
        self._closed = False
        self._lock = threading.Lock()
        self._done: list[tuple[int, object, object]] = []
        self._sig_flush.connect(self._flush, Qt.ConnectionType.QueuedConnection)

    @property
    def pending(self) -> int:
        """Return how many submitted calls have not reported back yet."""
        return len(self._callbacks)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> int:
        """Run ``fn()`` on the pool; call ``on_done(result)`` or ``on_error(exc)`` later."""
        if self._closed:
            return -1
        self._next += 1
        token = self._next
        self._callbacks[token] = (on_done, on_error)
        future = self._pool.submit(fn)
        future.add_done_callback(functools.partial(self._report, token))
        return token

    def _report(self, token: int, future: Future) -> None:
        """Hand the outcome to the GUI thread (runs on a pool thread)."""
        if self._closed:
            return
        try:
            result, error = future.result(), None
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, never lost
            result, error = None, exc
        with self._lock:
            self._done.append((token, result, error))
            first = len(self._done) == 1
        if first:
            with contextlib.suppress(RuntimeError):  # deleted at shutdown
                self._sig_flush.emit()

    def _flush(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for token, result, error in done:
            self._deliver(token, result, error)
        if done and not self._callbacks and not self._closed:
            self.sig_idle.emit()

    def _deliver(self, token: int, result: object, error: object) -> None:
        on_done, on_error = self._callbacks.pop(token, (None, None))
        if self._closed:
            return
        try:
            if error is not None:
                if on_error is not None:
                    on_error(error)  # type: ignore[arg-type]
                else:
                    log.error("background task failed: %s", error, exc_info=error)  # type: ignore[arg-type]
            elif on_done is not None:
                on_done(result)
        except Exception:
            log.exception("a background task's callback failed")

    def close(self, wait: bool = True) -> None:
        """Stop accepting work, drop queued calls and (optionally) wait for running ones."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._callbacks.clear()
