"""Fixtures for GUI tests: a main window on a temporary library with the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from annotator.library.repository import Library, open_library


@pytest.fixture
def gui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep caches and data of the app inside the test's folder."""
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def gui_library(gui_env: Path) -> Library:
    """Return a fresh library outside the photo folders."""
    lib = open_library(gui_env / "lib" / "library.sqlite3")
    yield lib
    lib.close()


@pytest.fixture
def store(gui_env: Path) -> QSettings:
    """Return a QSettings file of the test's own."""
    return QSettings(str(gui_env / "prefs.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="session")
def gui_model(tmp_path_factory: pytest.TempPathFactory, make_tiny_checkpoint) -> Path:
    """Return a tiny random model whose captions have several words.

    The shared ``tiny_model`` favours ``<end>`` so much that its captions are one
    word; clicking words and picking alternatives need more.
    """
    from dataclasses import replace

    from annotator.model.checkpoint import load_checkpoint, save_checkpoint

    path = make_tiny_checkpoint(tmp_path_factory.mktemp("gui-model") / "gui.safetensors", seed=4)
    ckpt = load_checkpoint(path)
    state = dict(ckpt.decoder_state)
    bias = state["fc.bias"].clone()
    bias[ckpt.vocab.end] = 0.0
    state["fc.bias"] = bias
    save_checkpoint(replace(ckpt, decoder_state=state), path)
    return path


@pytest.fixture(scope="session")
def gui_captioner(gui_model: Path):
    """Return the GUI tests' captioner, loaded once, on the CPU."""
    from annotator.model.captioner import Captioner

    return Captioner.load(gui_model, "cpu")


@pytest.fixture
def settings(gui_model: Path):
    """Return settings for the tiny model on the CPU, metadata kept in the library only."""
    from annotator.core.settings import Settings

    return Settings(
        model=str(gui_model),
        device="cpu",
        metadata="none",
        watch=False,
        beam_size=3,
        batch_size=4,
        workers=1,
    )


@pytest.fixture
def window(qtbot, gui_library: Library, settings, store: QSettings, gui_captioner, gui_env: Path):
    """Return a started main window (worker running, no folders yet)."""
    from annotator.gui.widgets.main_window import MainWindow

    w = MainWindow(
        gui_library,
        settings,
        store=store,
        captioner=gui_captioner,
        thumbnail_cache=gui_env / "thumbs",
    )
    qtbot.addWidget(w)
    w.show()
    w.start()
    qtbot.waitUntil(lambda: bool(w.model_id), timeout=30_000)
    yield w
    w.shutdown()


@pytest.fixture
def photo_folder(gui_env: Path, make_photos) -> Path:
    """Return a folder of four small photos."""
    folder = gui_env / "photos"
    make_photos(folder, 4, size=(160, 120))
    return folder
