"""The main window's status bar: queue, progress, rate and time left, device, model."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from annotator.pipeline.runner import Progress


def time_left(seconds: float | None) -> str:
    """Return ``seconds`` as "m:ss left" or "h:mm:ss left" ("" when unknown)."""
    if seconds is None or seconds <= 0:
        return ""
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d} left" if h else f"{m}:{s:02d} left"


class IndexStatusBar(QStatusBar):
    """Show what indexing does: photos queued, progress, rate, device and model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m")
        self.progress.setVisible(False)
        self.rate_label = QLabel()
        self.queue_label = QLabel()
        self.device_label = QLabel("device: …")
        self.model_label = QLabel("model: loading…")
        for w in (
            self.queue_label,
            self.progress,
            self.rate_label,
            self.device_label,
            self.model_label,
        ):
            self.addPermanentWidget(w)

    def show_progress(self, p: Progress) -> None:
        """Show ``done`` of ``total``, the rate and the time left (hidden when done)."""
        busy = p.done < p.total
        self.progress.setVisible(p.total > 0 and busy)
        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(min(p.done, p.total))
        rate = f"{p.rate:.2f} photos/s" if p.rate and busy else ""
        eta = time_left(p.eta) if busy else ""
        self.rate_label.setText(" · ".join(x for x in (rate, eta) if x))

    def hide_progress(self) -> None:
        """Hide the progress bar and the rate (indexing ended or stopped)."""
        self.progress.setVisible(False)
        self.rate_label.setText("")

    def show_queued(self, queued: int) -> None:
        """Show how many photos wait, unless the progress bar already says so."""
        self.queue_label.setText(
            f"{queued:,} queued" if queued and not self.progress.isVisible() else ""
        )

    def show_model(self, model_id: str, device: str, path: str) -> None:
        """Show the loaded model (its file in the tooltip) and the device it runs on."""
        self.model_label.setText(f"model: {model_id}")
        self.model_label.setToolTip(path)
        self.device_label.setText(device)

    def show_no_model(self, reason: str) -> None:
        """Say that no model is loaded, and why (in the tooltip)."""
        self.model_label.setText("model: none")
        self.model_label.setToolTip(reason)
        self.device_label.setText("")
