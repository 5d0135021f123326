"""Turn the index service's listener events into queued Qt signals delivered on the GUI thread.

The indexer calls :meth:`Bridge.listener` on its own thread. The bridge, a QObject
living on the GUI thread, collects events and posts one queued call per burst,
so every ``sig_...`` signal is emitted on the GUI thread whatever (plain
function, lambda or slot) is connected to it, and a batch of sixteen captions
costs the GUI thread one wake-up (each one waits for the GIL that the indexing
threads hold often). Nothing here touches a widget.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Qt, Signal

from annotator.core.types import PhotoFailure
from annotator.pipeline.runner import Finished, PhotoCaptioned, Progress, Status
from annotator.pipeline.service import (
    FilesRemoved,
    IndexingStopped,
    ModelFailed,
    ModelReady,
    Scanned,
)

log = logging.getLogger(__name__)


class Bridge(QObject):
    """Re-emit listener events as ``sig_...`` signals on the GUI thread."""

    sig_progress = Signal(object)  # Progress
    sig_captioned = Signal(object)  # PhotoCaptioned
    sig_failed = Signal(object)  # PhotoFailure
    sig_status = Signal(str)
    sig_finished = Signal(object)  # RunSummary
    sig_model_ready = Signal(object)  # ModelReady
    sig_model_failed = Signal(str)
    sig_scanned = Signal(object)  # Scanned
    sig_files_removed = Signal(object)  # FilesRemoved
    sig_worker_stopped = Signal(int)  # generation
    _sig_flush = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[object] = []
        self._sig_flush.connect(self._flush, Qt.ConnectionType.QueuedConnection)

    def listener(self, event: object) -> None:
        """Receive one event on any thread; it is handled later on the GUI thread."""
        with self._lock:
            self._pending.append(event)
            first = len(self._pending) == 1
        if first:
            self._sig_flush.emit()

    def _flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        for event in events:
            self._dispatch(event)

    def _dispatch(self, event: object) -> None:
        """Emit the public signal for ``event`` (GUI thread)."""
        if isinstance(event, Progress):
            self.sig_progress.emit(event)
        elif isinstance(event, PhotoCaptioned):
            self.sig_captioned.emit(event)
        elif isinstance(event, PhotoFailure):
            self.sig_failed.emit(event)
        elif isinstance(event, Status):
            self.sig_status.emit(event.message)
        elif isinstance(event, Finished):
            self.sig_finished.emit(event.summary)
        elif isinstance(event, ModelReady):
            self.sig_model_ready.emit(event)
        elif isinstance(event, ModelFailed):
            self.sig_model_failed.emit(event.reason)
        elif isinstance(event, Scanned):
            self.sig_scanned.emit(event)
        elif isinstance(event, FilesRemoved):
            self.sig_files_removed.emit(event)
        elif isinstance(event, IndexingStopped):
            self.sig_worker_stopped.emit(event.generation)
        else:
            log.debug("unknown indexer event %r", event)
