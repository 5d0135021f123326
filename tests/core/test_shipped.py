"""The shipped model, desktop entry and icons are found in a wheel and in a checkout."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.core import settings, shipped

REPO = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_shipped_file_exists_in_the_source_tree():
    missing = [rel for rel in shipped.SHIPPED_FILES if not (REPO / rel).is_file()]
    assert missing == []


def test_an_installed_copy_is_preferred_to_the_source_tree(tmp_path, monkeypatch):
    installed, source = tmp_path / "pkg" / "_shipped", tmp_path / "src"
    for root in (installed, source):
        (root / "models").mkdir(parents=True)
        (root / "models" / "default.safetensors").write_bytes(root.name.encode())
    monkeypatch.setattr(shipped, "SHIPPED_DIR", installed)
    monkeypatch.setattr(shipped, "SOURCE_ROOT", source)
    found = shipped.shipped_file("models/default.safetensors")
    assert found == installed / "models" / "default.safetensors"
    found.unlink()
    assert shipped.shipped_file("models/default.safetensors") == (
        source / "models" / "default.safetensors"
    )
    assert shipped.shipped_file("models/absent.safetensors") is None


def test_default_model_path_finds_the_model_inside_an_installed_package(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNOTATOR_MODEL", raising=False)
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    installed = tmp_path / "site-packages" / "annotator" / "_shipped"
    (installed / "models").mkdir(parents=True)
    (installed / "models" / "default.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(shipped, "SHIPPED_DIR", installed)
    monkeypatch.setattr(shipped, "SOURCE_ROOT", tmp_path / "site-packages")  # no models/ there
    assert settings.default_model_path() == installed / "models" / "default.safetensors"


def test_the_build_hook_copies_every_shipped_file_into_the_package(tmp_path):
    pytest.importorskip("setuptools")
    build_lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build_lib)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    for rel in shipped.SHIPPED_FILES:
        copy = build_lib / "annotator" / "_shipped" / rel
        assert copy.is_file(), rel
        assert _sha256(copy) == _sha256(REPO / rel), rel
    assert (build_lib / "annotator" / "core" / "shipped.py").is_file()
