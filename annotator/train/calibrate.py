"""Measure int8 activation ranges on real photos (development time) and ship them.

``python -m annotator.train.calibrate --images DIR [--count 300] [--model CKPT]``
runs the fp32 ONNX encoder over ``count`` photos (the Flickr8k train split when
``--dataset`` names a Karpathy JSON), records each activation's range and writes
``annotator/model/runtime/calibration/<encoder>-<weights>.json``. Only these ranges are
shipped, never the photos.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from annotator.model.preprocess import Preprocess, load_image
from annotator.model.runtime.cache import ModelCache
from annotator.model.runtime.export import INPUT
from annotator.model.runtime.quantize import quantize_encoder


class PhotoReader:
    """Feed preprocessed photos to ORT's calibrator in batches (a CalibrationDataReader)."""

    def __init__(self, paths: Sequence[Path], preset: Preprocess, batch_size: int = 16) -> None:
        self.paths, self.preset, self.batch_size = list(paths), preset, batch_size
        self._it: Iterator[dict[str, np.ndarray]] = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for lo in range(0, len(self.paths), self.batch_size):
            chunk = self.paths[lo : lo + self.batch_size]
            x = torch.stack([load_image(p, self.preset).tensor for p in chunk])  # (b, 3, S, S)
            yield {INPUT: x.numpy()}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """Return the next batch of inputs, or None at the end."""
        return next(self._it, None)

    def __len__(self) -> int:
        return len(self.paths)

    def rewind(self) -> None:
        """Start again from the first photo."""
        self._it = self._batches()


def calibrate(
    cache: ModelCache, preset: Preprocess, photos: Sequence[Path], out: Path | None = None
) -> Path:
    """Measure activation ranges of the cached fp32 encoder on ``photos``; write them to ``out``."""
    out = out or cache.ranges()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    fp32 = cache.get("fp32")
    with tempfile.TemporaryDirectory() as tmp:
        quantize_encoder(fp32, Path(tmp) / "int8.onnx", out, reader=PhotoReader(photos, preset))
    return out


def training_photos(dataset: Path, images: Path, count: int) -> list[Path]:
    """Return ``count`` train-split photos of a Karpathy JSON, spread evenly over the split."""
    from annotator.train.dataset import load_karpathy, split_entries

    entries = split_entries(load_karpathy(dataset, images), "train")
    step = max(1, len(entries) // count)
    return [e.path for e in entries[::step][:count]]


def main(argv: Sequence[str] | None = None) -> int:
    """Calibrate the int8 encoder of a checkpoint on real photos."""
    from annotator.core.settings import default_model_path
    from annotator.model.captioner import build_modules
    from annotator.model.checkpoint import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--dataset", type=Path, required=True, help="Karpathy-format JSON")
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    ckpt = load_checkpoint(args.model or default_model_path())
    encoder, _ = build_modules(ckpt)
    cache = ModelCache(encoder.eval(), ckpt.preprocess.image_size, ckpt.version)
    photos = training_photos(args.dataset, args.images, args.count)
    out = calibrate(cache, ckpt.preprocess, photos, args.out)
    print(f"calibrated {encoder.name} ({cache.weights}) on {len(photos)} photos -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
