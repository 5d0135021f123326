"""Pipeline stages: plain functions over batches, run sequentially or on thread pools.

record_files: files -> library photos (+ queue)  decode_photos: jobs -> tensors or failures
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
from typing import TypeVar

import torch

from annotator.core.display import is_encodable
from annotator.core.errors import ImageReadError
from annotator.core.settings import DEFAULT_BEAM_SIZE, DEFAULT_LENGTH_PENALTY
from annotator.core.types import CaptionResult, PhotoFailure
from annotator.library import ClaimedJob, Library, PhotoFile, UpsertResult
from annotator.model.captioner import Captioner
from annotator.model.preprocess import Preprocess, load_image
from annotator.pipeline.scan import is_raw, photo_file, raw_preview

log = logging.getLogger(__name__)

UNDECODABLE_NAME = "the file name is not valid UTF-8 (rename the file to index it)"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Decoded:
    """A claimed job whose photo decoded into an encoder input."""

    job: ClaimedJob
    tensor: torch.Tensor  # (3, S, S)
    width: int
    height: int


def job_id(item: Decoded | PhotoFailure) -> int | None:
    """Return the queue job of a decoded photo or of a failure (None: failed outside a job)."""
    return item.job.job_id if isinstance(item, Decoded) else item.job_id


def _map(pool: Executor | None, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return list(pool.map(fn, items)) if pool is not None else [fn(i) for i in items]


def describe_files(
    paths: Sequence[Path], pool: Executor | None = None
) -> list[PhotoFile | PhotoFailure]:
    """Hash and describe files (in parallel with ``pool``); unreadable files fail."""

    def one(p: Path) -> PhotoFile | PhotoFailure:
        if not is_encodable(p):
            return PhotoFailure(p, UNDECODABLE_NAME)
        try:
            return photo_file(p)
        except OSError as exc:
            return PhotoFailure(p, f"cannot read file: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
            return PhotoFailure(p, f"cannot read file: {type(exc).__name__}: {exc}")

    return _map(pool, one, list(paths))


def record_files(library: Library, root_id: int, files: Sequence[PhotoFile]) -> list[UpsertResult]:
    """Record described files under a root and queue the photos that need a caption."""
    results = library.upsert_photos(root_id, files)
    library.enqueue(r.photo_id for r in results if r.needs_caption)
    return results


def decode_photo(job: ClaimedJob, preset: Preprocess) -> Decoded | PhotoFailure:
    """Decode one job's photo (RAW through its embedded preview)."""
    try:
        data = raw_preview(job.path) if is_raw(job.path) else None
        img = load_image(job.path, preset, data)
        return Decoded(job, img.tensor, img.width, img.height)
    except ImageReadError as exc:
        return PhotoFailure(job.path, exc.reason, job.job_id)
    except OSError as exc:
        return PhotoFailure(job.path, f"cannot read file: {exc.strerror or exc}", job.job_id)
    except Exception as exc:  # noqa: BLE001 - one bad photo must never stop a run
        return PhotoFailure(
            job.path, f"cannot decode image: {type(exc).__name__}: {exc}", job.job_id
        )


def decode_photos(
    jobs: Sequence[ClaimedJob], preset: Preprocess, pool: Executor | None = None
) -> list[Decoded | PhotoFailure]:
    """Decode a batch of jobs, in parallel with ``pool``; bad photos become PhotoFailure."""
    return _map(pool, lambda j: decode_photo(j, preset), list(jobs))


def caption(
    captioner: Captioner,
    batch: Sequence[Decoded],
    *,
    beam_size: int = DEFAULT_BEAM_SIZE,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
    guidance: str = "tags",
) -> list[CaptionResult | PhotoFailure]:
    """Caption decoded photos in one batch; if the batch fails, retry photo by photo."""
    if not batch:
        return []
    kw = {"beam_size": beam_size, "length_penalty": length_penalty, "guidance": guidance}
    try:
        return list(captioner.caption_tensors(torch.stack([d.tensor for d in batch]), **kw))
    except (RuntimeError, ValueError) as exc:
        log.warning("batch of %d failed (%s); captioning one by one", len(batch), exc)
    out: list[CaptionResult | PhotoFailure] = []
    for d in batch:
        try:
            out.append(captioner.caption_tensors(d.tensor.unsqueeze(0), **kw)[0])
        except (RuntimeError, ValueError) as exc:
            out.append(PhotoFailure(d.job.path, f"captioning failed: {exc}", d.job.job_id))
    return out


def store(
    library: Library, batch: Sequence[Decoded], results: Sequence[CaptionResult], model_version: str
) -> list[int]:
    """Store captions, n-best and attention, completing the jobs in one transaction."""
    return library.complete_jobs(
        [(d.job.job_id, r, model_version) for d, r in zip(batch, results, strict=True)]
    )


def fail(library: Library, failures: Iterable[PhotoFailure]) -> None:
    """Record failed jobs with their reasons."""
    for f in failures:
        if f.job_id is not None:
            library.fail_job(f.job_id, f.reason)
