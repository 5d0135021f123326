"""Index on a Ray cluster: the local indexer's stages as a Ray Data pipeline.

What runs where:

- the driver (the ``annotator index --runner ray`` process) scans the roots and
  registers/deduplicates photos exactly as the local indexer does (it *is* the local
  indexer's :meth:`~annotator.pipeline.runner.Indexer.scan`), then claims queued jobs
  in waves under its own owner id and keeps their leases alive with a heartbeat;
- CPU tasks (``map_batches``) decode the claimed photos (:func:`stages.decode_photos`);
- an actor pool (``ActorPoolStrategy``; one GPU per actor when the cluster has GPUs)
  loads the model once per actor and captions (:func:`stages.caption`);
- CPU tasks store each batch in the library in one transaction (:func:`stages.store`),
  write the metadata first when asked (:func:`annotator.pipeline.write.write_metadata`),
  and record
  failures (:func:`stages.fail`), all on behalf of the driver's owner id;
- the driver counts the stored rows: progress, failures and the summary.

Exactly once: a job is completed only while it is still running under the driver's
owner (``complete_jobs`` checks the owner and the state under a row lock), so a task
that Ray retries after a worker died, or one that already committed, never stores a
second caption. If the driver dies, its leases run out and ``recover()`` (any
indexer, on any machine) queues the jobs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.core.errors import LibraryError
from annotator.core.types import CaptionResult, PhotoFailure
from annotator.library import ClaimedJob, Library, open_library
from annotator.metadata import Outcome, WriteReport
from annotator.model.checkpoint import load_checkpoint
from annotator.pipeline import stages
from annotator.pipeline.runner import (
    Finished,
    Indexer,
    IndexSettings,
    Listener,
    PhotoCaptioned,
    Progress,
    RunSummary,
    Status,
)
from annotator.pipeline.write import WriteOptions, from_result, write_metadata

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide to run on Ray.

    ``address`` None starts (or reuses) a local Ray instance; "auto" joins the
    cluster this machine belongs to; ``ray://HOST:PORT`` connects a Ray client.
    ``actors`` caption actors (default: one per GPU, else 1); ``wave`` jobs are
    claimed at a time (their leases are the driver's).
    """

    address: str | None = None
    actors: int | None = None
    wave: int = 4096


def ensure_ray(address: str | None) -> None:
    """Connect to Ray (``address``) unless this process already is."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver reports progress itself
    ctx.print_on_execution_start = False


# ---------------------------------------------------------------------- worker side

_LIBRARIES: dict[str, Library] = {}


def worker_library(location: str, owner: str) -> Library:
    """Return this worker process's library at ``location``, acting for ``owner``.

    The driver claimed the jobs; a worker completes or fails them on its behalf, so
    the queue's ownership checks hold across machines.
    """
    lib = _LIBRARIES.get(location)
    if lib is None:
        lib = _LIBRARIES[location] = open_library(location, create=False)
    lib.owner = owner
    return lib


def _jobs(batch: Batch) -> list[ClaimedJob]:
    return [
        ClaimedJob(int(j), int(p), Path(str(path)), str(h), int(a))
        for j, p, path, h, a in zip(
            batch["job_id"],
            batch["photo_id"],
            batch["path"],
            batch["content_hash"],
            batch["attempts"],
            strict=True,
        )
    ]


def decode_batch(batch: Batch, *, location: str, owner: str, model: str) -> Batch:
    """Decode a batch of claimed jobs (a Ray task): tensors, or the reason it failed."""
    preset = _preset(model)
    jobs = _jobs(batch)
    decoded = stages.decode_photos(jobs, preset)
    worker_library(location, owner).mark_decoded(j.job_id for j in jobs)
    size = preset.image_size
    tensors = np.zeros((len(jobs), 3, size, size), dtype=np.float32)  # (N, 3, S, S)
    errors = []
    for i, d in enumerate(decoded):
        if isinstance(d, stages.Decoded):
            tensors[i] = d.tensor.numpy()  # (3, S, S)
            errors.append("")
        else:
            errors.append(d.reason)
    return {**batch, "tensor": tensors, "error": np.array(errors, dtype=object)}


_PRESETS: dict[str, Any] = {}


def _preset(model: str) -> Any:
    if model not in _PRESETS:
        _PRESETS[model] = load_checkpoint(model).preprocess
    return _PRESETS[model]


class CaptionActor:
    """Caption decoded batches with one model, loaded once per actor."""

    def __init__(
        self,
        model: str,
        device: str,
        beam_size: int,
        length_penalty: float,
        guidance: str,
        engine: str = "auto",
        precision: str = "auto",
    ) -> None:
        from annotator.model.captioner import Captioner

        self.captioner = Captioner.load(model, device, engine=engine, precision=precision)
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.guidance = guidance

    def __call__(self, batch: Batch) -> Batch:
        """Caption the decoded rows; failed rows pass through with their reason."""
        jobs = _jobs(batch)
        errors = [str(e) for e in batch["error"]]
        idx = [i for i, e in enumerate(errors) if not e]
        decoded = [stages.Decoded(jobs[i], torch.from_numpy(batch["tensor"][i]), 0, 0) for i in idx]
        results: list[CaptionResult | None] = [None] * len(jobs)
        out = stages.caption(
            self.captioner,
            decoded,
            beam_size=self.beam_size,
            length_penalty=self.length_penalty,
            guidance=self.guidance,
        )
        for i, r in zip(idx, out, strict=True):
            if isinstance(r, CaptionResult):
                results[i] = r
            else:
                errors[i] = r.reason
        keep = {k: v for k, v in batch.items() if k != "tensor"}
        result_col = np.empty(len(jobs), dtype=object)
        result_col[:] = results
        return {
            **keep,
            "result": result_col,
            "error": np.array(errors, dtype=object),
            "version": np.array([self.captioner.ckpt.version] * len(jobs), dtype=object),
        }


def store_batch(
    batch: Batch,
    *,
    location: str,
    owner: str,
    metadata: str,
    sidecar_style: str,
    overwrite_human: bool,
    within: list[str] | None,
) -> Batch:
    """Store a captioned batch in one transaction, idempotently (a Ray task).

    Only jobs still running under ``owner`` are stored or failed: a retried task
    whose first run committed finds none and stores nothing again.
    """
    library = worker_library(location, owner)
    jobs = _jobs(batch)
    owned = library.owned_jobs(j.job_id for j in jobs)
    status = ["done-before"] * len(jobs)
    notes = [""] * len(jobs)
    texts = [""] * len(jobs)
    keywords = [""] * len(jobs)
    confidence = np.zeros(len(jobs), dtype=np.float64)
    failures = []
    ok: list[tuple[int, stages.Decoded, CaptionResult]] = []
    for i, (job, err, res) in enumerate(zip(jobs, batch["error"], batch["result"], strict=True)):
        if job.job_id not in owned:
            continue
        if err or res is None:
            failures.append(PhotoFailure(job.path, str(err), job.job_id))
            status[i], notes[i] = "failed", str(err)
        else:
            ok.append((i, stages.Decoded(job, torch.empty(0), 0, 0), res))
    stages.fail(library, failures)
    version = str(batch["version"][0]) if len(jobs) else ""
    written: list[WriteReport | None] = [None] * len(ok)
    if metadata != "none" and ok:  # a job completes once its caption is in the photo too
        options = WriteOptions(
            mode=metadata,
            sidecar_style=sidecar_style,
            overwrite_human=overwrite_human,
            within=[Path(w) for w in within] if within is not None else None,
        )
        items = [from_result(d.job.photo_id, d.job.path, r, version) for _, d, r in ok]
        written = list(write_metadata(library, items, options))
    if ok:
        try:
            stages.store(library, [d for _, d, _ in ok], [r for _, _, r in ok], version)
        except LibraryError as exc:  # a lease ran out and another worker took some over
            still = library.owned_jobs(d.job.job_id for _, d, _ in ok)
            log.warning("%s; storing the %d job(s) still ours", exc, len(still))
            keep = [k for k, (_, d, _) in enumerate(ok) if d.job.job_id in still]
            ok, written = [ok[k] for k in keep], [written[k] for k in keep]
            stages.store(library, [d for _, d, _ in ok], [r for _, _, r in ok], version)
        failed_writes = [
            d.job.photo_id
            for (_, d, _), w in zip(ok, written, strict=True)
            if w is not None and w.outcome is Outcome.FAILED
        ]
        library.set_write_pending(failed_writes, True)
        for (i, _, r), w in zip(ok, written, strict=True):
            status[i], texts[i], confidence[i] = "captioned", r.text, r.confidence
            keywords[i] = "\n".join(k.word for k in r.keywords)
            if w is not None:
                detail = "; ".join(w.notes)
                notes[i] = f"{w.outcome}{': ' + detail if detail else ''}"
    return {
        "job_id": batch["job_id"],
        "photo_id": batch["photo_id"],
        "path": batch["path"],
        "status": np.array(status, dtype=object),
        "text": np.array(texts, dtype=object),
        "confidence": confidence,
        "note": np.array(notes, dtype=object),
        "keywords": np.array(keywords, dtype=object),
    }


# ---------------------------------------------------------------------- driver side


class RayIndexer:
    """Run the indexer's scan on the driver and its captioning as a Ray Data pipeline."""

    def __init__(
        self,
        library: Library,
        settings: IndexSettings | None = None,
        listener: Listener | None = None,
        options: ClusterOptions | None = None,
    ) -> None:
        self.library = library
        self.settings = settings or IndexSettings()
        self.options = options or ClusterOptions()
        self.local = Indexer(library, self.settings, listener)  # scanning, events, summary
        self.listener = self.local.listener

    @property
    def summary(self) -> RunSummary:
        """Return what the run did so far."""
        return self.local.summary

    def stop(self) -> None:
        """Ask the run to stop; claimed photos not yet stored go back to the queue."""
        self.local.stop()

    def run(self, paths: Iterable[str | Path] = ()) -> RunSummary:
        """Add ``paths`` as roots, scan every root, and caption everything queued on Ray."""
        t0 = time.monotonic()
        roots = self.local.add_roots(paths)
        self.local.scan(self.library.roots() if roots else None)
        self.process()
        self.summary.elapsed = time.monotonic() - t0
        return self.summary

    def process(self) -> RunSummary:
        """Caption every queued photo on Ray, in waves, with progress on the driver."""
        t0 = time.monotonic()
        beat = threading.Event()
        heart = threading.Thread(target=self.local._heartbeat, args=(beat,), daemon=True)
        heart.start()
        try:
            self._process(t0)
        finally:
            beat.set()
            heart.join()
        self.summary.remaining = self.local._not_captioned()
        self.summary.elapsed = time.monotonic() - t0
        self.summary.stopped = self.local.stopping
        self.listener(Finished(self.summary))
        return self.summary

    def _process(self, t0: float) -> None:
        s = self.settings
        self.library.recover()
        if s.metadata != "none":
            self.local._retry_writes()
        total = self.local._pending_total()
        if total == 0:
            return
        ensure_ray(self.options.address)
        model = str(s.model_path().resolve())
        done = 0
        while not self.local.stopping:
            jobs = self.library.claim_jobs(self.options.wave)
            if not jobs:
                break
            try:
                for row in self._wave(jobs, model).iter_rows():
                    self._report(row)
                    done += 1
                    total = max(total, done)
                    elapsed = time.monotonic() - t0
                    rate = done / elapsed if elapsed > 0 else 0.0
                    eta = (total - done) / rate if rate > 0 else None
                    self.listener(Progress(done, total, rate, eta))
                    if self.local.stopping:
                        break
            finally:
                # stopped, or the pipeline failed: give back what was not stored (a store
                # still in flight then finds its jobs no longer ours and skips them)
                left = self.library.owned_jobs(j.job_id for j in jobs)
                if left:
                    self.library.release_jobs(left)
                    self.listener(Status(f"{len(left)} claimed photo(s) returned to the queue"))

    def _wave(self, jobs: Sequence[ClaimedJob], model: str) -> Any:
        """Build the Ray Data pipeline for one wave of claimed jobs."""
        import ray
        from ray.data import ActorPoolStrategy

        s = self.settings
        gpus = int(ray.cluster_resources().get("GPU", 0))  # type: ignore[no-untyped-call]
        actors = self.options.actors or max(1, gpus)
        # a GPU takes bigger batches; on CPUs the user's batch size (default 16)
        caption_batch = max(s.batch_size, 64) if gpus else s.batch_size
        location = _location(self.library)
        owner = self.library.owner
        items = [
            {
                "job_id": j.job_id,
                "photo_id": j.photo_id,
                "path": str(j.path),
                "content_hash": j.content_hash,
                "attempts": j.attempts,
            }
            for j in jobs
        ]
        blocks = max(1, min(len(items) // max(1, s.batch_size), 64))
        # Any: Ray's stubs want a plain function of the batch, not one with keyword options
        ds: Any = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(
            decode_batch,
            batch_size=s.batch_size,
            batch_format="numpy",
            fn_kwargs={"location": location, "owner": owner, "model": model},
        )
        ds = ds.map_batches(
            CaptionActor,
            batch_size=caption_batch,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=actors),
            # one GPU, or one CPU, per actor; decoding fuses into the actor on CPUs
            num_gpus=1 if gpus else None,
            num_cpus=None if gpus else 1,
            fn_constructor_kwargs={
                "model": model,
                "device": "cuda" if gpus else "cpu",
                "beam_size": s.beam_size,
                "length_penalty": s.length_penalty,
                "guidance": s.guidance,
                "engine": s.engine,
                "precision": s.precision,
            },
        )
        within = self.local._write_roots()
        return ds.map_batches(
            store_batch,
            batch_size=s.batch_size,
            batch_format="numpy",
            # database round trips: they wait, they do not compute, so they take no CPU
            # slot the actors need (else they queue behind the actors until these finish)
            num_cpus=0,
            concurrency=max(2, actors),
            fn_kwargs={
                "location": location,
                "owner": owner,
                "metadata": s.metadata,
                "sidecar_style": s.sidecar_style,
                "overwrite_human": s.overwrite_human,
                "within": [str(w) for w in within] if within is not None else None,
            },
        )

    def _report(self, row: dict[str, Any]) -> None:
        path = Path(str(row["path"]))
        status = str(row["status"])
        if status == "captioned":
            self.summary.captioned += 1
            note = str(row["note"])
            if note.startswith("failed"):
                self.summary.metadata_failed += 1
            elif note.startswith("written"):
                self.summary.metadata_written += 1
            words = tuple(w for w in str(row["keywords"]).split("\n") if w)
            self.listener(
                PhotoCaptioned(
                    int(row["photo_id"]),
                    path,
                    str(row["text"]),
                    float(row["confidence"]),
                    note,
                    words,
                )
            )
        elif status == "failed":
            self.local._failed(PhotoFailure(path, str(row["note"]), int(row["job_id"])))
        else:
            self.listener(Status(f"{path}: stored by an earlier attempt"))


def _location(library: Library) -> str:
    """Return where workers open the library: the file, or the URL with its password."""
    if library.path is not None:
        return str(library.path)
    return library.engine.url.render_as_string(hide_password=False)
