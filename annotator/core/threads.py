"""Keep background threads from starving the GUI thread.

Three knobs, all process-local:

* ``gc.freeze()`` once the app's modules (torch, Qt, SQLAlchemy) are loaded, and
  again when the model is: a full collection of the cyclic garbage collector
  walks every tracked object while holding the GIL, which took ~180 ms with
  everything loaded; frozen objects are skipped;
* a shorter GIL switch interval, so the GUI thread gets the interpreter back
  within about a millisecond when a worker thread runs Python code (the default
  5 ms is paid again after every call into Qt);
* on Linux, a higher nice value for the indexing and thumbnail threads (Linux
  schedules threads individually; threads they start inherit it), so when the
  CPU is short, the GUI thread runs first.
"""

from __future__ import annotations

import gc
import os
import sys
import threading

SWITCH_INTERVAL = 0.0002  # seconds
BACKGROUND_NICE = 8  # added to the thread's nice value, at most 19


def tune_interpreter() -> None:
    """Shorten the GIL switch interval and freeze the objects alive now (see above)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)
    freeze_heap()


def freeze_heap() -> None:
    """Keep the garbage collector away from the long-lived objects alive now."""
    gc.freeze()


def lower_this_thread() -> None:
    """Lower the calling thread's CPU priority (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + BACKGROUND_NICE))
    except OSError:
        pass  # not permitted: run at the normal priority
