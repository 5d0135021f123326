"""Compute encoder features once and cache them on disk as memory-mapped float16.

The cache key covers the encoder name, its weights, the preprocessing preset and the
list of photos, so changing any of them computes a new cache instead of reusing a
stale one. A cache is written to a temporary name and renamed when complete.

On the CPU the frozen encoder runs in ONNX Runtime (fp32) when it is installed, several
times faster than PyTorch eager; both engines give the same features to 1e-4, far below
the float16 rounding of the cache, so the cache key does not depend on the engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from annotator.model.encoder import Encoder
from annotator.model.preprocess import Preprocess, load_image
from annotator.model.runtime.export import weights_id


class ImageFiles(Dataset[torch.Tensor]):
    """Load photos as normalised tensors with the shared preprocessing preset."""

    def __init__(self, paths: Sequence[Path], preset: Preprocess) -> None:
        self.paths, self.preset = list(paths), preset

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return load_image(self.paths[i], self.preset).tensor  # (3, S, S)


def encoder_weights_id(encoder: Encoder) -> str:
    """Return a short hash of the encoder's weights (identifies pretrained vs fine-tuned)."""
    return weights_id(encoder)


def cache_key(encoder_name: str, weights_id: str, preset: Preprocess, paths: Sequence[Path]) -> str:
    """Return the cache key for these photos under this encoder and preset."""
    h = hashlib.sha256()
    h.update(f"{encoder_name}|{weights_id}|{preset.key()}".encode())
    for p in paths:
        h.update(str(p).encode())
    return h.hexdigest()[:20]


def image_loader(
    paths: Sequence[Path], preset: Preprocess, batch_size: int, workers: int
) -> DataLoader[Any]:
    """Return a DataLoader decoding photos on ``workers`` processes, in order."""
    return DataLoader(
        ImageFiles(paths, preset),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )


def frozen_encoder(
    encoder: Encoder, preset: Preprocess, device: torch.device, engine: str = "auto"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the fastest runner of ``encoder`` for inference: ONNX Runtime fp32 or PyTorch."""
    from annotator.model.runtime.engine import resolve_engine

    choice = resolve_engine(engine, "fp32", device)
    if choice.engine != "onnx" or encoder.pool_grid:
        return encoder
    from annotator.model.runtime.cache import ModelCache
    from annotator.model.runtime.session import OnnxEncoder

    # the cached file's name already carries a digest of the weights
    cache = ModelCache(encoder, preset.image_size, "features")
    return OnnxEncoder(cache, "fp32", choice.provider)


@torch.inference_mode()
def compute_features(
    encoder: Encoder,
    preset: Preprocess,
    paths: Sequence[Path],
    out: Path,
    *,
    batch_size: int = 64,
    workers: int = 2,
    device: torch.device | str = "cpu",
    progress: bool = True,
    engine: str = "auto",
) -> np.memmap:
    """Encode ``paths`` into a float16 memmap (N, P, E) at ``out``."""
    from tqdm import tqdm

    device = torch.device(device)
    encoder = encoder.to(device).eval()
    run = frozen_encoder(encoder, preset, device, engine)
    p = encoder.grid[0] * encoder.grid[1]
    tmp = out.with_name(out.name + ".partial")
    mm = np.lib.format.open_memmap(
        tmp, mode="w+", dtype=np.float16, shape=(len(paths), p, encoder.feature_dim)
    )
    i = 0
    for batch in tqdm(
        image_loader(paths, preset, batch_size, workers),
        disable=not progress,
        desc="encoding photos",
        unit="batch",
    ):
        feats = run(batch.to(device, non_blocking=True))  # (B, P, E)
        mm[i : i + len(feats)] = feats.half().cpu().numpy()
        i += len(feats)
    mm.flush()
    del mm
    tmp.replace(out)
    features: np.memmap = np.load(out, mmap_mode="r")
    return features


def cached_features(
    encoder: Encoder, preset: Preprocess, paths: Sequence[Path], cache_dir: Path, **kw: object
) -> np.memmap:
    """Return the features of ``paths``, computing and caching them on first use."""
    name = encoder.name + (f"-pool{encoder.pool_grid}" if encoder.pool_grid else "")
    key = cache_key(name, encoder_weights_id(encoder), preset, paths)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"features-{encoder.name}-{key}.npy"
    meta = cache_dir / f"features-{encoder.name}-{key}.json"
    if out.exists() and meta.exists():
        cached: np.memmap = np.load(out, mmap_mode="r")
        return cached
    feats = compute_features(encoder, preset, paths, out, **kw)  # type: ignore[arg-type]
    meta.write_text(
        json.dumps(
            {
                "encoder": encoder.name,
                "preprocess": preset.to_dict(),
                "count": len(paths),
                "shape": list(feats.shape),
            }
        )
    )
    return feats
