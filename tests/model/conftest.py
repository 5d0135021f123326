"""Fixtures for model tests: bad input files, tiny random decoders, the shipped encoder in ONNX."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from annotator.model.config import ModelConfig
from annotator.model.decoder import Decoder


def _bomb(path: Path, side: int) -> None:
    """Write a valid 1-bit PNG that claims side x side pixels (small on disk)."""
    raw = (b"\x00" + b"\x00" * (side // 8)) * side

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + tag
            + body
            + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Create every kind of bad input; map name -> (path, expected reason fragment)."""
    (tmp / "adir.jpg").mkdir()
    (tmp / "empty.jpg").write_bytes(b"")
    (tmp / "text.jpg").write_text("this is not a photo\n")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)).save(
        buf, "JPEG", quality=90
    )
    (tmp / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _bomb(tmp / "bomb.png", 16000)
    return {
        "missing": (tmp / "missing.jpg", "not found"),
        "directory": (tmp / "adir.jpg", "directory"),
        "empty": (tmp / "empty.jpg", "empty"),
        "text": (tmp / "text.jpg", "not a recognised image"),
        "truncated": (tmp / "truncated.jpg", "truncated"),
        "bomb": (tmp / "bomb.png", "decompression bomb"),
    }


@pytest.fixture(scope="session")
def bad_inputs() -> Callable[[Path], dict[str, tuple[Path, str]]]:
    """Return ``(folder) -> {name: (path, reason fragment)}``: every kind of bad input."""
    return _bad_inputs


REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "default.safetensors"


@pytest.fixture(scope="session")
def shipped_torch():
    """Return the shipped captioner with the PyTorch encoder (for the ONNX tests)."""
    pytest.importorskip("onnxruntime", reason="the ONNX tests need onnxruntime")
    from annotator.model.captioner import Captioner

    return Captioner.load(SHIPPED, "cpu", engine="torch")


@pytest.fixture(scope="session")
def onnx_root(tmp_path_factory: pytest.TempPathFactory, shipped_torch) -> Path:
    """Return a cache folder holding the shipped encoder exported in fp32 and int8, once."""
    from annotator.model.runtime.cache import ModelCache

    root = tmp_path_factory.mktemp("onnx-cache")
    cache = ModelCache(shipped_torch.encoder, 260, shipped_torch.ckpt.version, root)
    cache.get("fp32")
    cache.get("int8")
    return root


def _tiny_decoder(
    vocab_size: int, *, seed: int, encoder_dim: int = 32, biases: dict[int, float]
) -> Decoder:
    """Return a small random decoder in eval mode; ``biases`` sets output biases by token."""
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=vocab_size,
        encoder="efficientnet-lite0",
        encoder_dim=encoder_dim,
        embed_dim=16,
        attention_dim=16,
        decoder_dim=24,
    )
    dec = Decoder(cfg).eval()
    with torch.no_grad():
        for token, bias in biases.items():
            dec.fc.bias[token] = bias
    return dec


@pytest.fixture(scope="session")
def tiny_decoder() -> Callable[..., Decoder]:
    """Return ``decoder(vocab_size, *, seed, encoder_dim=32, biases)``: a small random one."""
    return _tiny_decoder
