"""Share an ONNX export of the shipped encoder, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "default.safetensors"


@pytest.fixture(scope="session")
def shipped_torch():
    """Return the shipped captioner with the PyTorch encoder."""
    pytest.importorskip("onnxruntime", reason="the ONNX tests need onnxruntime")
    from annotator.model.captioner import Captioner

    return Captioner.load(SHIPPED, "cpu", engine="torch")


@pytest.fixture(scope="session")
def onnx_root(tmp_path_factory: pytest.TempPathFactory, shipped_torch) -> Path:
    """Return a cache folder holding the shipped encoder exported in fp32 and int8."""
    from annotator.model.runtime.cache import ModelCache

    root = tmp_path_factory.mktemp("onnx-cache")
    cache = ModelCache(shipped_torch.encoder, 260, shipped_torch.ckpt.version, root)
    cache.get("fp32")
    cache.get("int8")
    return root
