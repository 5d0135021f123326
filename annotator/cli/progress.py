"""Show indexing progress: a bar on a terminal, plain lines in logs, nothing when quiet.

On a terminal the tqdm bar redraws itself with carriage returns. Anywhere else (a log
file, CI, systemd's journal) carriage-return frames would mix with results and
errors, so a plain line is printed every few seconds instead. Every line is written
whole and flushed at once, so an error always starts on its own line even when
standard output and standard error go to the same file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

PROGRESS_INTERVAL_S = 5.0


class ProgressOutput(Protocol):
    """Where indexing reports its progress, result lines and errors."""

    def update(self, done: int, total: int, rate: float, eta: float | None) -> None:
        """Report that ``done`` of ``total`` photos are finished."""

    def write(self, line: str, err: bool = False) -> None:
        """Print one whole line on standard output (or standard error if ``err``)."""

    def close(self) -> None:
        """Finish the progress display (idempotent)."""


def _print_line(line: str, err: bool) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def format_eta(seconds: float | None) -> str:
    """Return ``seconds`` as ``M:SS`` or ``H:MM:SS`` (empty when unknown)."""
    if seconds is None or seconds <= 0:
        return ""
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class BarProgress:
    """A tqdm bar on a terminal; lines are printed above it."""

    def __init__(self, stream: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="photo", file=stream, dynamic_ncols=True, desc="captioning")
        self._closed = False

    def update(self, done: int, total: int, rate: float, eta: float | None) -> None:
        """Move the bar."""
        if not self._closed:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def write(self, line: str, err: bool = False) -> None:
        """Print ``line`` above the bar."""
        if self._closed:
            _print_line(line, err)
        else:
            self._bar.write(line, file=sys.stderr if err else sys.stdout)

    def close(self) -> None:
        """Leave the final bar on its own line."""
        if not self._closed:
            self._closed = True
            self._bar.close()


class LineProgress:
    """One plain progress line at most every ``interval`` seconds (logs, CI, systemd)."""

    def __init__(
        self,
        stream: TextIO,
        interval: float = PROGRESS_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._last_time: float | None = None
        self._last: tuple[int, int] | None = None

    def update(self, done: int, total: int, rate: float, eta: float | None) -> None:
        """Print ``captioning: D of T photos (P%) ...`` if the interval has passed."""
        now = self._clock()
        if (done, total) == self._last or total <= 0:
            return
        if self._last_time is not None and now - self._last_time < self._interval:
            return
        self._last_time, self._last = now, (done, total)
        parts = [f"captioning: {done} of {total} photos ({100 * done // total}%)"]
        if rate > 0:
            parts.append(f"{rate:.2f} photos/s")
        if eta and done < total:
            parts.append(f"{format_eta(eta)} left")
        self._stream.write(", ".join(parts) + "\n")
        self._stream.flush()

    def write(self, line: str, err: bool = False) -> None:
        """Print ``line`` whole."""
        _print_line(line, err)

    def close(self) -> None:
        """Nothing is left open."""


class QuietProgress:
    """No progress and no result lines; errors are still printed."""

    def update(self, done: int, total: int, rate: float, eta: float | None) -> None:
        """Show nothing."""

    def write(self, line: str, err: bool = False) -> None:
        """Print errors only."""
        if err:
            _print_line(line, err)

    def close(self) -> None:
        """Nothing is left open."""


def open_progress(stream: TextIO, *, quiet: bool = False) -> ProgressOutput:
    """Return quiet output, a bar if ``stream`` is a terminal, else plain lines."""
    if quiet:
        return QuietProgress()
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return BarProgress(stream)
    return LineProgress(stream)
