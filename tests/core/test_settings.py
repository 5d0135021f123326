"""One definition of the user's settings, in settings.json, shared by the CLI and the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.core.settings import (
    DEFAULT_BEAM_SIZE,
    Settings,
    default_model_path,
    load_settings,
    save_settings,
    set_default_model,
    settings_from_dict,
    settings_path,
)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the settings file inside the test's folder."""
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ANNOTATOR_MODEL", raising=False)
    return tmp_path / "data"


def test_no_file_gives_the_defaults() -> None:
    assert not settings_path().exists()
    settings = load_settings()
    assert settings == Settings()
    assert settings.beam_size == DEFAULT_BEAM_SIZE == 3
    assert settings.metadata == "embed" and settings.library_location() is None


def test_saved_settings_load_back_and_other_keys_are_kept() -> None:
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text(json.dumps({"theme": "dark"}))
    chosen = Settings(library="/srv/photos.sqlite3", beam_size=5, device="cpu", metadata="none")
    save_settings(chosen)
    assert load_settings() == chosen
    assert json.loads(settings_path().read_text())["theme"] == "dark"


def test_broken_values_fall_back_to_the_defaults_one_by_one() -> None:
    settings = settings_from_dict(
        {"beam_size": 99, "metadata": "everywhere", "watch": "yes", "device": 3, "workers": 4}
    )
    assert settings == Settings(workers=4)
    assert settings_from_dict({"beam_size": True}).beam_size == DEFAULT_BEAM_SIZE  # not an int
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("{not json")
    assert load_settings() == Settings()


def test_the_default_model_is_the_settings_model_while_it_exists(tmp_path: Path) -> None:
    model = tmp_path / "mine.safetensors"
    model.write_bytes(b"x")
    set_default_model(model)
    assert load_settings().model == str(model.resolve())
    assert default_model_path() == model.resolve()
    model.unlink()  # gone: the shipped model again
    assert default_model_path() != model.resolve()
    set_default_model(None)
    assert load_settings().model == ""


def test_the_key_older_versions_wrote_is_read() -> None:
    assert settings_from_dict({"default_model": "/m.safetensors"}).model == "/m.safetensors"


def test_commands_default_to_the_settings(tmp_path: Path) -> None:
    from annotator.cli import build_parser
    from annotator.cli._common import user_settings
    from annotator.library.db import resolve_location

    save_settings(Settings(library=str(tmp_path / "shared.sqlite3"), beam_size=7, device="cpu"))
    parser = build_parser()
    for argv in (["caption", "x.jpg"], ["index"]):
        settings = user_settings(parser.parse_args(argv))
        assert (settings.beam_size, settings.device) == (7, "cpu")
    given = user_settings(parser.parse_args(["index", "--beam-size", "2", "--metadata", "none"]))
    assert (given.beam_size, given.metadata, given.device) == (2, "none", "cpu")
    _, path = resolve_location(None)  # no --library: the settings' library
    assert path == (tmp_path / "shared.sqlite3").resolve()
