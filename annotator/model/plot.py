"""Draw the Show-Attend-Tell visualisation: one panel per word, its attention overlaid."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from annotator.core.types import CaptionResult


def upsample_attention(att: np.ndarray, size: tuple[int, int], blur: float = 0.0) -> np.ndarray:
    """Resize one attention map (H, W) to ``size`` = (width, height), scaled to [0, 1]."""
    a = np.asarray(att, dtype=np.float32)
    a = a / max(float(a.max()), 1e-12)
    img = Image.fromarray((a * 255).astype(np.uint8), "L").resize(size, Image.Resampling.BICUBIC)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(img, dtype=np.float32) / 255.0  # (height, width)


def attention_figure(
    photo: Image.Image,
    result: CaptionResult,
    out: str | Path,
    *,
    panel: int = 224,
    columns: int = 5,
) -> Path:
    """Write a grid of panels (the photo, then one per word with its map) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = photo.size
    scale = panel / max(w, h)
    shown = photo.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))))
    words = list(result.words)
    n = len(words) + 1
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(shown)
    axes.flat[0].set_title("(photo)", fontsize=10)
    for i, word in enumerate(words, start=1):
        ax = axes.flat[i]
        ax.imshow(shown)
        att = upsample_attention(result.attention[i - 1], shown.size, blur=panel / 40)
        ax.imshow(att, alpha=0.6, cmap="Greys_r", vmin=0.0, vmax=1.0)
        ax.set_title(word, fontsize=11)
    fig.suptitle(result.text, fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
