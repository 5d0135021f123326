"""Run blocking calls (database reads and writes, photo decoding) off the GUI thread.

Results come back through a queued signal, so callbacks always run on the GUI
thread, after the call that submitted them has returned.
"""

from __future__ import annotations

import logging
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
    _sig_done = Signal(int, object, object)  # token, result, error

    def __init__(self, workers: int = 2, parent: QObject | None = None,
                 name: str = "annotator-gui") -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
        self._callbacks: dict[int, tuple[Callback | None, ErrorCallback | None]] = {}
        self._next = 0
        self._closed = False
        self._sig_done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def pending(self) -> int:
        """Return how many submitted calls have not reported back yet."""
        return len(self._callbacks)

    def submit(self, fn: Callable[[], Any], on_done: Callback | None = None,
               on_error: ErrorCallback | None = None) -> int:
        """Run ``fn()`` on the pool; call ``on_done(result)`` or ``on_error(exc)`` later."""
        if self._closed:
            return -1
        self._next += 1
        token = self._next
        self._callbacks[token] = (on_done, on_error)
        future = self._pool.submit(fn)
        future.add_done_callback(lambda f, t=token: self._report(t, f))
        return token

    def _report(self, token: int, future: Future) -> None:
        """Hand the outcome to the GUI thread (runs on a pool thread)."""
        if self._closed:
            return
        try:
            result, error = future.result(), None
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, never lost
            result, error = None, exc
        self._sig_done.emit(token, result, error)

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
        finally:
            if not self._callbacks:
                self.sig_idle.emit()

    def close(self, wait: bool = True) -> None:
        """Stop accepting work, drop queued calls and (optionally) wait for running ones."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._callbacks.clear()
