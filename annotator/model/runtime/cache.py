"""Keep exported encoders in the user cache directory, one file per checkpoint and encoder.

A cached model is named after the encoder, the checkpoint version and a digest of
everything it was built from (encoder weights, grid, input size, precision, the
calibration ranges and the ONNX Runtime version for int8), so a changed checkpoint or
encoder gets a new file. Every model has a ``.sha256`` manifest written after it; a
model whose bytes do not match (a crash mid-write, a corrupt disk) is exported again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

from annotator.core.errors import ModelLoadError
from annotator.core.settings import cache_dir
from annotator.model.encoder import Encoder
from annotator.model.runtime.export import export_encoder, has_head, weights_id
from annotator.model.runtime.quantize import RECIPE, calibration_file, quantize_encoder

log = logging.getLogger(__name__)

CACHE_FORMAT = "2"  # 2: constants and paddings folded before caching
KEEP = 8  # cached models kept; the least recently used ones beyond are removed


def default_cache_root() -> Path:
    """Return ``<user cache>/onnx``."""
    return cache_dir() / "onnx"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_intact(path: Path) -> bool:
    """Return whether ``path`` exists and matches the digest in its manifest."""
    manifest = _manifest(path)
    if not path.is_file() or not manifest.is_file():
        return False
    try:
        return manifest.read_text().strip() == _sha256(path)
    except OSError:
        return False


def seal(path: Path) -> Path:
    """Write the manifest of a complete model file (atomically) and return the model path."""
    manifest = _manifest(path)
    tmp = manifest.with_name(f"{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(_sha256(path) + "\n")
    tmp.replace(manifest)
    return path


def discard(path: Path) -> None:
    """Remove a cached model and its manifest."""
    for p in (path, _manifest(path)):
        p.unlink(missing_ok=True)


def prune(root: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used models under ``root``."""
    models = sorted(root.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in models[keep:]:
        with contextlib.suppress(OSError):  # in use elsewhere (Windows): keep it
            discard(old)


class ModelCache:
    """Build (once) and find the ONNX files of one checkpoint's encoder."""

    def __init__(
        self,
        encoder: Encoder,
        image_size: int,
        checkpoint_version: str,
        root: Path | None = None,
        calibration_dir: Path | None = None,
    ) -> None:
        self.encoder = encoder
        self.image_size = image_size
        self.version = checkpoint_version or "unversioned"
        self.root = root or default_cache_root()
        self.calibration_dir = calibration_dir
        self.weights = weights_id(encoder)

    def ranges(self) -> Path:
        """Return the calibration file for this encoder's weights (it may not exist)."""
        return calibration_file(self.encoder.name, self.weights, self.calibration_dir)

    def path(self, precision: str) -> Path:
        """Return the cache path of the model at ``precision``."""
        describe = {
            "format": CACHE_FORMAT,
            "encoder": self.encoder.name,
            "checkpoint": self.version,
            "weights": self.weights,
            "grid": list(self.encoder.grid),
            "image_size": self.image_size,
            "head": has_head(self.encoder),
            "precision": precision,
        }
        if precision == "int8":
            import onnxruntime

            ranges = self.ranges()
            describe["recipe"] = RECIPE
            describe["ranges"] = _sha256(ranges) if ranges.is_file() else ""
            describe["onnxruntime"] = onnxruntime.__version__
        digest = hashlib.sha256(json.dumps(describe, sort_keys=True).encode()).hexdigest()[:12]
        return self.root / f"{self.encoder.name}-{self.version}-{precision}-{digest}.onnx"

    def get(self, precision: str, *, rebuild: bool = False) -> Path:
        """Return the intact cached model at ``precision``, exporting it when needed."""
        if precision not in ("fp32", "int8"):
            raise ValueError(f"unknown precision {precision!r}")
        path = self.path(precision)
        if not rebuild and is_intact(path):
            with contextlib.suppress(OSError):
                os.utime(path)  # most recently used: pruned last
            return path
        if path.exists():
            log.warning("%s: cached encoder is incomplete or corrupt; exporting it again", path)
        discard(path)
        if precision == "fp32":
            export_encoder(self.encoder, path, self.image_size)
        else:
            ranges = self.ranges()
            if not ranges.is_file():
                raise ModelLoadError(
                    ranges,
                    f"no int8 calibration for {self.encoder.name} with these weights "
                    f"({self.weights}); use --precision fp32",
                )
            quantize_encoder(self.get("fp32"), path, ranges)
        seal(path)
        prune(self.root)
        return path
