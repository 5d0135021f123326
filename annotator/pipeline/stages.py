"""Pipeline stages: plain functions over batches, run sequentially or on thread pools.

register: files -> library photos (+ queue)      decode: jobs -> tensors or failures
caption: tensors -> CaptionResults               store: results -> library, one transaction
write: captions -> photo metadata (:func:`annotator.pipeline.write.write_metadata`)

Each stage takes and returns plain values, so the same functions run under the CLI,
the GUI's worker thread, or a distributed batch runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import torch

from annotator.core.errors import ImageReadError
from annotator.core.types import CaptionResult
from annotator.library import ClaimedJob, Library, PhotoFile, UpsertResult
from annotator.model.captioner import Captioner
from annotator.model.preprocess import Preprocess, load_image
from annotator.pipeline.scan import is_raw, photo_file, raw_preview

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoded:
    """A claimed job whose photo decoded into an encoder input."""

    job: ClaimedJob
    tensor: torch.Tensor  # (3, S, S)
    width: int
    height: int


@dataclass(frozen=True)
class Failed:
    """A job (or file) that failed, with a one-line reason."""

    path: Path
    reason: str
    job: ClaimedJob | None = None


def _map(pool: Executor | None, fn: Callable, items: Sequence) -> list:
    return list(pool.map(fn, items)) if pool is not None else [fn(i) for i in items]


def describe_files(paths: Sequence[Path], pool: Executor | None = None) -> list[PhotoFile | Failed]:
    """Hash and describe files (in parallel with ``pool``); unreadable files fail."""

    def one(p: Path) -> PhotoFile | Failed:
        try:
            return photo_file(p)
        except OSError as exc:
            return Failed(p, f"cannot read file: {exc.strerror or exc}")

    return _map(pool, one, list(paths))


def register(library: Library, root_id: int, files: Sequence[PhotoFile]) -> list[UpsertResult]:
    """Record described files under a root and queue the photos that need a caption."""
    results = library.upsert_photos(root_id, files)
    library.enqueue(r.photo_id for r in results if r.needs_caption)
    return results


def decode_one(job: ClaimedJob, preset: Preprocess) -> Decoded | Failed:
    """Decode one job's photo (RAW through its embedded preview)."""
    try:
        data = raw_preview(job.path) if is_raw(job.path) else None
        img = load_image(job.path, preset, data)
        return Decoded(job, img.tensor, img.width, img.height)
    except ImageReadError as exc:
        return Failed(job.path, exc.reason, job)
    except OSError as exc:
        return Failed(job.path, f"cannot read file: {exc.strerror or exc}", job)


def decode(
    jobs: Sequence[ClaimedJob], preset: Preprocess, pool: Executor | None = None
) -> list[Decoded | Failed]:
    """Decode a batch of jobs, in parallel with ``pool``; bad photos become Failed."""
    return _map(pool, lambda j: decode_one(j, preset), list(jobs))


def caption(
    captioner: Captioner,
    batch: Sequence[Decoded],
    *,
    beam_size: int = 3,
    length_penalty: float = 0.0,
) -> list[CaptionResult | Failed]:
    """Caption decoded photos in one batch; if the batch fails, retry photo by photo."""
    if not batch:
        return []
    kw = {"beam_size": beam_size, "length_penalty": length_penalty}
    try:
        return list(captioner.caption_tensors(torch.stack([d.tensor for d in batch]), **kw))
    except (RuntimeError, ValueError) as exc:
        log.warning("batch of %d failed (%s); captioning one by one", len(batch), exc)
    out: list[CaptionResult | Failed] = []
    for d in batch:
        try:
            out.append(captioner.caption_tensors(d.tensor.unsqueeze(0), **kw)[0])
        except (RuntimeError, ValueError) as exc:
            out.append(Failed(d.job.path, f"captioning failed: {exc}", d.job))
    return out


def store(
    library: Library, batch: Sequence[Decoded], results: Sequence[CaptionResult], model_version: str
) -> list[int]:
    """Store captions, n-best and attention, completing the jobs in one transaction."""
    return library.complete_jobs(
        [(d.job.job_id, r, model_version) for d, r in zip(batch, results, strict=True)]
    )


def fail(library: Library, failures: Iterable[Failed]) -> None:
    """Record failed jobs with their reasons."""
    for f in failures:
        if f.job is not None:
            library.fail_job(f.job.job_id, f.reason)
