"""Take the README's screenshots of the desktop app from a real X11 window.

Run under Xvfb (a 1600x1000 screen), from the repository root:

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshots/make_screenshots.py \
        [MODEL [PHOTO_STEM]]

MODEL defaults to models/default.safetensors, else the training run's
runs/flickr8k-lite2/default.safetensors, else a tiny random model. The photos are
resources/samples plus crops of them; the library and caches live in a temporary
folder, so nothing of the user's is touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

WORK = Path(tempfile.gettempdir()) / "annotator-demo"  # a stable name: it shows in the shots
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir()
os.environ["ANNOTATOR_CACHE_DIR"] = str(WORK / "cache")
os.environ["ANNOTATOR_DATA_DIR"] = str(WORK / "data")
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


def pick_model() -> Path:
    """Return the best model at hand (a copy, so a training run can keep writing)."""
    if len(sys.argv) > 1 and sys.argv[1]:
        return Path(sys.argv[1])
    for candidate in (REPO / "models/default.safetensors",
                      REPO / "runs/flickr8k-lite2/default.safetensors"):
        if candidate.is_file():
            copy = WORK / candidate.name
            shutil.copy2(candidate, copy)
            return copy
    from tests.conftest import make_tiny_checkpoint

    return make_tiny_checkpoint(WORK / "tiny.safetensors")


def make_photos(folder: Path) -> None:
    """Copy the sample photos and add crops of them, as a small "holiday" folder."""
    from PIL import Image, ImageOps

    folder.mkdir(parents=True)
    samples = sorted((REPO / "resources/samples").glob("*.jpg"))
    for p in samples:
        shutil.copy2(p, folder / p.name)
    crops = {  # name: (sample, box as fractions, mirror)
        "cat_face": ("chelsea", (0.25, 0.0, 0.85, 0.75), False),
        "cat_sleepy": ("chelsea", (0.0, 0.1, 0.7, 1.0), True),
        "espresso": ("coffee", (0.1, 0.1, 0.9, 0.95), False),
        "cup_top": ("coffee", (0.2, 0.0, 0.85, 0.6), True),
        "launch_pad": ("rocket", (0.0, 0.3, 0.8, 1.0), False),
        "rocket_sky": ("rocket", (0.2, 0.0, 1.0, 0.7), True),
        "spacesuit": ("astronaut", (0.0, 0.2, 0.75, 1.0), False),
        "portrait": ("astronaut", (0.15, 0.0, 0.85, 0.65), True),
        "street_photographer": ("camera", (0.0, 0.0, 0.8, 0.8), False),
        "tripod": ("camera", (0.2, 0.2, 1.0, 1.0), True),
    }
    for name, (base, (x0, y0, x1, y1), mirror) in crops.items():
        im = Image.open(REPO / "resources/samples" / f"{base}.jpg").convert("RGB")
        w, h = im.size
        im = im.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)))
        if mirror:
            im = ImageOps.mirror(im)
        im.resize((im.width * 2, im.height * 2)).save(folder / f"{name}.jpg", quality=90)
    (folder / "scan_0042.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated download")


def most_focused_word(panel, words: list[str]) -> int:
    """Return the index of the content word whose attention is most concentrated."""
    from annotator.gui.actions import attention_map

    stop = {"a", "an", "the", "is", "are", "in", "on", "of", "with", "and", "to", "at", "<unk>"}
    things = {"camera", "cat", "dog", "rocket", "cup", "coffee", "man", "woman", "boy", "girl",
              "person", "helmet", "jacket"}
    named = [i for i, w in enumerate(words) if w.lower() in things]
    best, best_score = 0, -1.0
    for i, w in enumerate(words):
        m = attention_map(panel.details.attention, words, i)
        if m is None or w.lower() in stop or (named and i not in named):
            continue
        score = float(m.max() / max(m.mean(), 1e-9))
        if score > best_score:
            best, best_score = i, score
    return best


def save(image, name: str, *, max_kb: int = 480) -> Path:
    """Save a QImage/QPixmap as PNG under 500 KB (palette-quantised if needed)."""
    from PIL import Image

    path = OUT / name
    tmp = WORK / name
    image.save(str(tmp), "PNG")
    im = Image.open(tmp).convert("RGB")
    im.save(path, optimize=True)
    colours = 256
    while path.stat().st_size > max_kb * 1024 and colours >= 32:
        im.quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                    dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
        colours //= 2
    print(f"{path.relative_to(REPO)}: {image.width()}x{image.height()}, "
          f"{path.stat().st_size // 1024} KB")
    return path


def main() -> int:
    """Index the photos through the app, then take the screenshots."""
    model = pick_model()
    photos = WORK / "Holiday 2024"
    make_photos(photos)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from annotator.core.settings import Settings
    from annotator.gui.theme import apply_theme
    from annotator.gui.widgets.main_window import MainWindow
    from annotator.library.repository import open_library

    app = QApplication([sys.argv[0]])
    app.setApplicationName("annotator")
    apply_theme(app)

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(cond, timeout: float = 600.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("the app did not get there in time")
            wait(100)

    library = open_library(WORK / "library.sqlite3")
    prefs = Settings(model=str(model), device="cpu", metadata="none", watch=False,
                        beam_size=5)
    store = QSettings(str(WORK / "prefs.ini"), QSettings.Format.IniFormat)
    window = MainWindow(library, prefs, store=store)
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    window.start()
    window.add_folders([photos])
    n = len(list(photos.glob("*.jpg")))

    def indexed() -> bool:
        rows = window.photos.rows()
        return len(rows) == n and all(r.state in ("captioned", "failed") for r in rows)

    wait_until(indexed)
    wait(1500)
    rows = {r.path.stem: r for r in window.photos.rows()}
    # a person corrected one caption and accepted two others
    library.add_human_revision(rows["coffee"].photo_id, "a cup of coffee with latte art")
    library.set_reviewed(rows["rocket"].photo_id, True)
    library.set_reviewed(rows["astronaut"].photo_id, True)
    window.photos.refresh()
    window.refresh_roots()
    wait_until(lambda: window.thumbnails.busy is False)
    wait(1500)

    # the review panel on the sample the model is surest of, with its most telling word
    samples = [rows[p.stem] for p in sorted((REPO / "resources/samples").glob("*.jpg"))]
    best = max(samples, key=lambda r: r.confidence if r.confidence is not None else -1e9)
    if len(sys.argv) > 2:
        best = rows[sys.argv[2]]
    window.select_photo(best.photo_id)
    panel = window.panel
    wait_until(lambda: panel.details is not None and panel.view.has_photo)
    words = [c.text() for c in panel.words.chips]
    pick = most_focused_word(panel, words)
    panel.select_word(pick)
    wait(800)
    save(window.grab(), "main-window.png")
    save(panel.grab(), "review-heatmap.png")

    # search as you type, with highlighted matches
    query = words[pick] if len(words[pick]) > 2 else "a"
    window.search.setText(query)
    wait_until(lambda: window.photos.query.text == query and not window.photos.loading)
    wait(1200)
    save(window.grab(), "search.png")
    window.search.clear()

    # settings and export dialogs
    from annotator.gui.widgets.settings_dialog import SettingsDialog

    settings = SettingsDialog(Settings(model=str(model)), window)  # the defaults
    settings.show()
    wait(600)
    save(settings.grab(), "settings.png")
    settings.close()
    export = window.open_export()
    export.format.setCurrentIndex(export.format.findData("karpathy"))
    export.out.setText(str(WORK / "datasets" / "holiday-captions"))
    done: list = []
    export.sig_exported.connect(done.append)
    export.start_export()
    wait_until(lambda: bool(done), timeout=120)
    wait(600)
    save(export.grab(), "export.png")
    export.close()

    failures = window.open_failures()
    wait_until(lambda: window.failures.rowCount() > 0, timeout=30)
    wait(500)
    save(failures.grab(), "failures.png")
    failures.close()
    window.shutdown()
    library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
