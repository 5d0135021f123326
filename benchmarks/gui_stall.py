"""Measure the longest GUI event-loop stall while the desktop app indexes photos.

Makes N photos (default 200 at 1024x768, from the sample photos), opens the real
main window on a new library, drops the folder on it and lets the app's worker
caption everything (metadata embedded, as by default) while, on the GUI thread,
a 5 ms QTimer records how late each tick fires. With ``--interact`` (the default)
another timer scrolls the grid and steps through photos in the review panel, as
a user would. Prints the longest stall (target < 100 ms), the 99th percentile
and the indexing rate.

Usage: nice -n 10 python benchmarks/gui_stall.py [--photos 200] [--size 1024x768]
       [--model PATH] [--no-interact] [--platform offscreen|xcb]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from photos import make_photos  # noqa: E402


def pick_model(arg: str | None, work: Path) -> Path:
    """Return ``arg``, else the default model if installed, else a tiny random one."""
    if arg:
        return Path(arg)
    from annotator.core.settings import default_model_path

    default = default_model_path()
    if default.is_file():
        return default
    from tests.conftest import make_tiny_checkpoint

    print("no default model installed: using a tiny random one", file=sys.stderr)
    return make_tiny_checkpoint(work / "tiny.safetensors")


def main() -> int:
    """Run the benchmark and print the stall figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--size", default="1024x768")
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-interact", dest="interact", action="store_false")
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    ap.add_argument("--tick-ms", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--verbose", action="store_true", help="list every stall over 50 ms")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform
    work = Path(tempfile.mkdtemp(prefix="annotator-gui-stall-"))
    os.environ["ANNOTATOR_CACHE_DIR"] = str(work / "cache")
    os.environ["ANNOTATOR_DATA_DIR"] = str(work / "data")

    w, h = (int(x) for x in args.size.lower().split("x"))
    t = time.perf_counter()
    make_photos(work / "photos", args.photos, (w, h))
    print(
        f"made {args.photos} photos of {w}x{h} in {time.perf_counter() - t:.1f} s", file=sys.stderr
    )
    model = pick_model(args.model, work)

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from annotator.core.settings import Settings
    from annotator.core.threads import tune_interpreter
    from annotator.gui.models.photos import Roles
    from annotator.gui.theme import apply_theme
    from annotator.gui.widgets.main_window import MainWindow
    from annotator.library.repository import open_library

    app = QApplication([sys.argv[0]])
    apply_theme(app)
    library = open_library(work / "library.sqlite3")
    prefs = Settings(model=str(model), device=args.device, metadata="embed", watch=False)
    store = QSettings(str(work / "prefs.ini"), QSettings.Format.IniFormat)
    tune_interpreter()  # as annotator.gui.app.run() does
    window = MainWindow(library, prefs, store=store, thumbnail_cache=work / "thumbs")
    window.resize(1480, 900)
    window.show()

    gaps: list[float] = []
    when: list[float] = []
    cpu: list[float] = []  # GUI-thread CPU time spent in each gap (the rest is waiting)
    last_cpu = [0.0]
    clock = QElapsedTimer()
    last = [0.0]
    tick = QTimer()
    tick.setInterval(args.tick_ms)
    tick.setTimerType(tick.timerType().PreciseTimer)

    def on_tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        c = time.thread_time() * 1000
        gaps.append(now - last[0] - args.tick_ms)
        cpu.append(c - last_cpu[0])
        when.append(now)
        last[0] = now
        last_cpu[0] = c

    tick.timeout.connect(on_tick)

    def interact() -> None:
        bar = window.grid.verticalScrollBar()
        bar.setValue(bar.value() + bar.pageStep() // 2 if bar.value() < bar.maximum() else 0)
        window.grid.step(1)

    poke = QTimer()
    poke.setInterval(150)
    poke.timeout.connect(interact)

    done = {"t": None}
    started = [0.0]

    def check() -> None:
        model_ = window.photos
        n = model_.rowCount()
        if n >= args.photos and all(
            model_.data(model_.index(i, 0), Roles.State) == "captioned" for i in range(n)
        ):
            done["t"] = time.perf_counter()
            app.quit()
        elif time.perf_counter() - started[0] > args.timeout:
            app.quit()

    watch = QTimer()
    watch.setInterval(250)
    watch.timeout.connect(check)

    def begin() -> None:
        window.start()
        started[0] = time.perf_counter()
        window.add_folders([work / "photos"])
        if args.verbose:
            print(f"drop at monotonic {time.monotonic():.4f}", file=sys.stderr)
        clock.start()
        last[0] = 0.0
        last_cpu[0] = time.thread_time() * 1000
        tick.start()
        watch.start()
        if args.interact:
            poke.start()

    QTimer.singleShot(0, begin)
    app.exec()
    tick.stop()
    poke.stop()
    watch.stop()
    window.shutdown()
    library.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if done["t"] is None:
        print(f"did not finish within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    elapsed = done["t"] - started[0]
    stalls = sorted(gaps)
    p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
    over = sum(g > 50 for g in gaps)
    print(
        f"indexed {args.photos} photos ({w}x{h}) in {elapsed:.1f} s "
        f"({args.photos / elapsed:.2f} photos/s) with {model.name} on {args.device}, "
        f"interaction {'on' if args.interact else 'off'}, platform {args.platform}"
    )
    print(
        f"GUI event loop: {len(gaps)} ticks of {args.tick_ms} ms; "
        f"stall p99 {p99:.1f} ms; {over} stalls over 50 ms"
    )
    if args.verbose:
        for at, gap, c in zip(when, gaps, cpu, strict=True):
            if gap > 50:
                print(
                    f"  stall of {gap:.0f} ms ending {at / 1000:.2f} s after the drop "
                    f"(GUI thread on the CPU {c:.0f} ms of it)"
                )
    worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else None
    busy = max(cpu, default=0.0)
    load = os.getloadavg()[0]
    print(
        f"GUI thread's longest time on the CPU between two ticks: {busy:.1f} ms; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    if worst is not None:
        print(
            f"longest GUI event-loop stall: {gaps[worst]:.1f} ms (target < 100 ms), of which "
            f"{cpu[worst]:.1f} ms GUI-thread CPU (the rest: waiting for a CPU or the GIL)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
