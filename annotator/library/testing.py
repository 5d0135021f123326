"""Make realistic synthetic captions and attention maps for tests and benchmarks.

Nothing in the application imports this module; its one-photo helpers make the
batch calls the indexer makes. Attention maps imitate a soft attention captioner:
a smooth bump or two over a noisy background, passed through a softmax, so each map
is positive and sums to 1.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from annotator.core.types import Alternative, CaptionResult, Keyword
from annotator.library.values import PhotoFile, UpsertResult

if TYPE_CHECKING:
    from annotator.library.repository import Library


def upsert_photo(
    library: Library,
    root_id: int,
    path: str | Path,
    content_hash: str,
    size: int,
    mtime: float,
    width: int | None = None,
    height: int | None = None,
    taken_at: datetime | None = None,
) -> UpsertResult:
    """Record one file under a root with ``Library.upsert_photos``."""
    file = PhotoFile(path, content_hash, size, mtime, width, height, taken_at)
    return library.upsert_photos(root_id, [file])[0]


def complete_job(library: Library, job_id: int, result: CaptionResult, model_version: str) -> int:
    """Complete one job with ``Library.complete_jobs``; return its caption's id."""
    return library.complete_jobs([(job_id, result, model_version)])[0]


def attention_maps(rng: np.random.Generator, n_words: int, height: int, width: int) -> np.ndarray:
    """Return (n_words, height, width) float32 maps, each a softmax over the grid."""
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((n_words, height, width), dtype=np.float32)
    scale = (height + width) / 18.0  # bump widths in grid cells, relative to a 9 x 9 grid
    for t in range(n_words):
        logits = rng.normal(0.0, 0.3, (height, width))
        for _ in range(int(rng.integers(1, 3))):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            sigma = rng.uniform(0.8, 2.5) * scale
            logits += rng.uniform(2.0, 5.0) * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)
            )
        weights = np.exp(logits - logits.max())
        out[t] = weights / weights.sum()
    return out


def caption_result(
    words: str | tuple[str, ...],
    *,
    rng: np.random.Generator | None = None,
    grid: int = 9,
    model_id: str = "test-model",
    beam_size: int = 3,
    n_alternatives: int = 3,
    keywords: tuple[Keyword, ...] = (),
    confidence: float | None = None,
) -> CaptionResult:
    """Return a plausible :class:`CaptionResult` for ``words`` with attention on a grid.

    ``confidence`` gives every word (and the end) that log-probability, so the
    caption's confidence is exactly it; by default they are drawn from ``rng``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    tokens = tuple(words.split()) if isinstance(words, str) else tuple(words)
    if confidence is not None:
        logprobs: tuple[float, ...] = (float(confidence),) * (len(tokens) + 1)
    else:
        logprobs = tuple(float(x) for x in -rng.gamma(1.0, 0.4, len(tokens) + 1))
    alternatives = [Alternative(" ".join(tokens), float(sum(logprobs)), logprobs)]
    for i in range(1, n_alternatives):
        alt = (*tokens[:-1], f"alt{i}")
        alt_lp = tuple(x - 0.1 * i for x in logprobs)
        alternatives.append(Alternative(" ".join(alt), float(sum(alt_lp)), alt_lp))
    return CaptionResult(
        words=tokens,
        score=float(sum(logprobs)),
        word_logprobs=logprobs,
        attention=attention_maps(rng, len(tokens), grid, grid),
        alternatives=tuple(alternatives),
        model_id=model_id,
        beam_size=beam_size,
        keywords=keywords,
    )
