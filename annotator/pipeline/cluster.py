"""Index on a Ray cluster: the local indexer's stages as a Ray Data pipeline.

What runs where:

- the driver (the ``annotator index --engine ray`` process) scans the roots and
  registers/deduplicates photos exactly as the local indexer does (it *is* the local
  indexer's :meth:`~annotator.pipeline.runner.Indexer.scan`), then runs one Ray Data
  pipeline over the queue and keeps the leases of its jobs alive with a heartbeat;
- the pipeline claims jobs a batch at a time, as it reaches them, under the driver's
  owner id (:meth:`Library.claim_jobs`), and decodes them (:func:`stages.decode_photos`);
- an actor pool (``ActorPoolStrategy``; one GPU per actor when the cluster has GPUs,
  else a share of the CPUs) loads the model once per actor and captions
  (:func:`stages.caption`);
- each batch is stored in the library in one transaction (:func:`stages.store`), the
  metadata written first when asked (:func:`annotator.pipeline.write.write_metadata`),
  and failures recorded (:func:`stages.fail`), all on behalf of the driver's owner
  id: by the CPU actors themselves, or by CPU tasks next to GPU actors;
- the driver counts the stored rows: progress, failures and the summary.

Exactly once: a job is completed only while it is still running under the driver's
owner (``complete_jobs`` checks the owner and the state under a row lock), so a task
that Ray retries after a worker died, or one that already committed, never stores a
second caption. A retried task claims new jobs; those its dead first attempt held are
queued again when the pipeline ends (``recover(own=True)``), with the attempt counted
if it died decoding. If the driver dies, its leases run out and ``recover()`` (any
indexer, on any machine) queues the jobs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.core.errors import LibraryError
from annotator.core.types import CaptionResult, PhotoFailure
from annotator.library import ClaimedJob, Library, open_library
from annotator.metadata import Outcome, WriteReport
from annotator.model.checkpoint import read_preprocess
from annotator.model.preprocess import Preprocess
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
    ``actors`` caption actors (default: one per GPU, else 1). One pipeline claims
    at most ``slots`` jobs (a batch at a time); a bigger queue takes more.
    """

    address: str | None = None
    actors: int | None = None
    slots: int = 65536


def ensure_ray(address: str | None) -> None:
    """Connect to Ray (``address``) unless this process already is."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    quiet_ray_data()


def quiet_ray_data() -> None:
    """Turn Ray Data's progress bars and notes off: the driver reports progress itself."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


# ---------------------------------------------------------------------- worker side

_LIBRARIES: dict[str, Library] = {}
_OPENING = threading.Lock()


def worker_library(location: str, owner: str) -> Library:
    """Return this worker process's library at ``location``, acting for ``owner``.

    The driver owns the run's jobs; a worker claims, completes or fails them on its
    behalf, so the queue's ownership checks and the driver's heartbeat hold across
    machines.
    """
    with _OPENING:  # an actor's two calls may ask at once
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


def _columns(jobs: Sequence[ClaimedJob]) -> Batch:
    return {
        "job_id": np.array([j.job_id for j in jobs], dtype=np.int64),
        "photo_id": np.array([j.photo_id for j in jobs], dtype=np.int64),
        "path": np.array([str(j.path) for j in jobs], dtype=object),
        "content_hash": np.array([j.content_hash for j in jobs], dtype=object),
        "attempts": np.array([j.attempts for j in jobs], dtype=np.int64),
    }


def claim_batch(batch: Batch, *, location: str, owner: str) -> Batch:
    """Claim a queued job for ``owner`` per row (a slot) of ``batch`` (a Ray task).

    Jobs are claimed as the pipeline reaches them, so leases are held only for photos
    in flight. As in the local indexer, a photo whose decoding was interrupted
    before is claimed alone (a crash then is evidence against that one photo).
    """
    library = worker_library(location, owner)
    return _columns(library.claim_jobs(len(batch["id"]), isolate_suspects=True))


def decode_batch(batch: Batch, *, location: str, owner: str, preset: dict[str, Any]) -> Batch:
    """Decode a batch of claimed jobs (a Ray task): tensors, or the reason it failed."""
    pre = Preprocess.from_dict(preset)
    jobs = _jobs(batch)
    decoded = stages.decode_photos(jobs, pre)
    worker_library(location, owner).mark_decoded(j.job_id for j in jobs)
    size = pre.image_size
    tensors = np.zeros((len(jobs), 3, size, size), dtype=np.float32)  # (N, 3, S, S)
    errors = []
    for i, d in enumerate(decoded):
        if isinstance(d, stages.Decoded):
            tensors[i] = d.tensor.numpy()  # (3, S, S)
            errors.append("")
        else:
            errors.append(d.reason)
    return {**batch, "tensor": tensors, "error": np.array(errors, dtype=object)}


class CaptionActor:
    """Caption decoded batches with one model, loaded once per actor.

    With ``store`` (the options of :func:`store_batch`) the actor also stores what it
    captioned, outside its captioning lock: with two calls at a time, one batch is
    captioned while the other is decoded or stored, and no worker process is started
    just to store.
    """

    def __init__(
        self,
        model: str,
        device: str,
        beam_size: int,
        length_penalty: float,
        guidance: str,
        engine: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        store: dict[str, Any] | None = None,
    ) -> None:
        from annotator.model.captioner import Captioner

        if threads:  # the CPUs Ray gave this actor, not every core of its machine
            torch.set_num_threads(threads)
        self.captioner = Captioner.load(
            model, device, engine=engine, precision=precision, threads=threads
        )
        if self.captioner.engine.engine == "onnx":
            self.captioner.onnx_encoder()  # open the session now, not in the first batch
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.guidance = guidance
        self.store = store
        self._captioning = threading.Lock()  # one batch at a time on the model

    def __call__(self, batch: Batch) -> Batch:
        """Caption the decoded rows; failed rows pass through with their reason."""
        jobs = _jobs(batch)
        errors = [str(e) for e in batch["error"]]
        idx = [i for i, e in enumerate(errors) if not e]
        decoded = [stages.Decoded(jobs[i], torch.from_numpy(batch["tensor"][i]), 0, 0) for i in idx]
        results: list[CaptionResult | None] = [None] * len(jobs)
        with self._captioning:
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
        captioned = {
            **keep,
            "result": result_col,
            "error": np.array(errors, dtype=object),
            "version": np.array([self.captioner.ckpt.version] * len(jobs), dtype=object),
        }
        return captioned if self.store is None else store_batch(captioned, **self.store)


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
        """Caption every queued photo on Ray, with progress on the driver."""
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
        if self.local._pending_total() == 0:
            return
        model = s.model_path().resolve()
        preset = read_preprocess(model).to_dict()  # a missing or bad model fails here, early
        ensure_ray(self.options.address)
        plan = self._plan(preset, str(model))
        done = 0
        while not self.local.stopping:
            pending = self.local._pending_total()
            if pending == 0:
                break
            total = done + pending
            stored = 0
            rows = _rows(plan, min(pending, self.options.slots))
            try:
                for row in rows:
                    self._report(row)
                    done += 1
                    stored += 1
                    total = max(total, done)
                    elapsed = time.monotonic() - t0
                    rate = done / elapsed if elapsed > 0 else 0.0
                    eta = (total - done) / rate if rate > 0 else None
                    self.listener(Progress(done, total, rate, eta))
                    if self.local.stopping:
                        break
            except BaseException:
                self._give_back(rows)
                raise
            if self.local.stopping:
                self._give_back(rows)
                break
            # The pipeline ran to its end, so no task of it holds a job any more: a job
            # still running under our owner was claimed by a task that died and that
            # Ray ran again (claiming other jobs). Queue it again as interrupted, with
            # its attempts, as recover() does for a dead local worker.
            self.library.recover(own=True)
            if stored == 0:
                break  # nothing could be claimed (e.g. the rest is in paused roots)

    def _give_back(self, rows: Iterator[dict[str, Any]]) -> None:
        """Stop the pipeline, then return the jobs it claimed and did not store."""
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # ends the stream: Ray Data shuts its executor down
        left = self.library.running_jobs()
        if left:
            self.library.release_jobs(left)
            self.listener(Status(f"{len(left)} claimed photo(s) returned to the queue"))

    def _plan(self, preset: dict[str, Any], model: str) -> _Plan:
        """Choose the actors, their resources and batch sizes for this cluster."""
        import ray

        s = self.settings
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus = int(resources.get("GPU", 0))
        actors = self.options.actors or max(1, gpus)
        threads = None
        if not gpus:  # share the CPUs between the actors, no more than one machine's each
            node_cpus = [
                int(n.get("Resources", {}).get("CPU", 0))
                for n in ray.nodes()  # type: ignore[no-untyped-call]
                if n.get("Alive")
            ]
            cpus = int(resources.get("CPU", 1))
            threads = max(1, min(cpus // actors, max(node_cpus, default=1)))
        return _Plan(
            location=_location(self.library),
            owner=self.library.owner,
            model=model,
            preset=preset,
            settings=s,
            gpus=gpus,
            actors=actors,
            threads=threads,
            within=self.local._write_roots(),
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


def _rows(plan: _Plan, slots: int) -> Iterator[dict[str, Any]]:
    """Run a pipeline and yield its stored rows; closing this stops the pipeline.

    Through Ray Client (``ray://``) this process cannot drive Ray Data itself, so an
    actor on the cluster runs the pipeline and hands the rows over in chunks.
    """
    from ray.util.client import ray as client

    if not client.is_connected():  # type: ignore[no-untyped-call]
        yield from plan.dataset(slots).iter_rows()
        return
    import ray

    # Any: Ray's stubs do not type an actor's methods
    runner: Any = ray.remote(num_cpus=0)(RemotePipeline).remote(plan, slots)
    try:
        while True:
            rows, end, error = ray.get(runner.take.remote(256, 1.0))
            yield from rows
            if error:
                raise RuntimeError(f"the pipeline failed on the cluster: {error}")
            if end:
                return
    finally:
        ray.get(runner.close.remote())
        ray.kill(runner)


class RemotePipeline:
    """Run a pipeline's stream of stored rows on the cluster (a Ray actor)."""

    def __init__(self, plan: _Plan, slots: int) -> None:
        import queue

        quiet_ray_data()
        self._queue: queue.Queue[tuple[dict[str, Any] | None, str]] = queue.Queue(maxsize=4096)
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._run, args=(plan, slots), daemon=True)
        self._pump.start()

    def _run(self, plan: _Plan, slots: int) -> None:
        rows = iter(plan.dataset(slots).iter_rows())
        try:
            for row in rows:
                self._queue.put((row, ""))
                if self._stop.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - handed to the driver, which raises it
            self._queue.put((None, f"{type(exc).__name__}: {exc}"))
            return
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        self._queue.put((None, ""))

    def take(self, most: int, wait: float) -> tuple[list[dict[str, Any]], bool, str]:
        """Return up to ``most`` rows (waiting up to ``wait`` s), whether it ended, and why."""
        import queue

        rows: list[dict[str, Any]] = []
        try:
            item = self._queue.get(timeout=wait)
            while True:
                row, error = item
                if row is None:
                    return rows, True, error
                rows.append(row)
                if len(rows) >= most:
                    return rows, False, ""
                item = self._queue.get_nowait()
        except queue.Empty:
            return rows, False, ""

    def close(self) -> None:
        """Stop the pipeline (after the row it is waiting for) and wait for it."""
        self._stop.set()
        while self._pump.is_alive():  # drain, so that the pump is never stuck on put()
            try:
                self._queue.get(timeout=0.5)
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting for the pump
                continue


def _location(library: Library) -> str:
    """Return where workers open the library: the file, or the URL with its password."""
    if library.path is not None:
        return str(library.path)
    return library.engine.url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class _Plan:
    """How one run's pipelines are built (the same for each of them)."""

    location: str
    owner: str
    model: str
    preset: dict[str, Any]
    settings: IndexSettings
    gpus: int
    actors: int
    threads: int | None  # CPUs (and threads) per captioning actor; None on GPUs
    within: list[Path] | None

    @property
    def caption_batch(self) -> int:
        """Return the captioning batch: at least 64 on a GPU, the user's on CPUs."""
        return max(self.settings.batch_size, 64) if self.gpus else self.settings.batch_size

    def dataset(self, slots: int) -> Any:
        """Return the Ray Data pipeline that claims up to ``slots`` jobs and captions them.

        claim -> decode (CPU tasks) -> caption (actor pool) -> write + store (tasks).
        Its input is ``slots`` placeholders in blocks of one captioning batch; each
        block claims its jobs when the pipeline reaches it.

        On CPUs, claiming and decoding fuse into the captioning actors (same
        resources), which also write and store what they captioned; each actor runs
        two calls at once with one captioning at a time, so one batch is decoded or
        stored while the other is captioned (the local indexer's decode-ahead), and
        no worker process starts for anything but the actors. On GPUs, decoding runs
        in CPU tasks and storing in tasks that take no CPU slot, so that the GPU
        actors only caption.
        """
        import ray
        from ray.data import ActorPoolStrategy, TaskPoolStrategy

        s = self.settings
        cpu = self.threads is not None
        decode_cpus = self.threads if cpu else 1
        # Any: Ray's stubs want a plain function of the batch, not one with keyword options
        batch = self.caption_batch
        # in memory, not a read: read tasks would wait for CPUs the actors hold
        ds: Any = ray.data.from_items(
            [{"id": i} for i in range(slots)], override_num_blocks=-(-slots // batch)
        )
        ds = ds.map_batches(
            claim_batch,
            batch_size=batch,
            batch_format="numpy",
            num_cpus=decode_cpus,
            fn_kwargs={"location": self.location, "owner": self.owner},
        )
        ds = ds.map_batches(
            decode_batch,
            batch_size=s.batch_size,
            batch_format="numpy",
            num_cpus=decode_cpus,
            fn_kwargs={"location": self.location, "owner": self.owner, "preset": self.preset},
        )
        store = {
            "location": self.location,
            "owner": self.owner,
            "metadata": s.metadata,
            "sidecar_style": s.sidecar_style,
            "overwrite_human": s.overwrite_human,
            "within": [str(w) for w in self.within] if self.within is not None else None,
        }
        ds = ds.map_batches(
            CaptionActor,
            batch_size=self.caption_batch,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=self.actors)
            if not cpu
            else ActorPoolStrategy(
                size=self.actors, max_concurrent_calls_per_actor=2, enable_true_multi_threading=True
            ),
            num_gpus=None if cpu else 1,
            num_cpus=self.threads if cpu else None,
            fn_constructor_kwargs={
                "model": self.model,
                "device": "cpu" if cpu else "cuda",
                "beam_size": s.beam_size,
                "length_penalty": s.length_penalty,
                "guidance": s.guidance,
                "engine": s.engine,
                "precision": s.precision,
                "threads": self.threads,
                "store": store if cpu else None,
            },
        )
        if cpu:
            return ds
        return ds.map_batches(  # on CPU workers, so that the GPUs only caption
            store_batch,
            batch_size=s.batch_size,
            batch_format="numpy",
            # database round trips and file writes: they wait more than they compute,
            # so they take no CPU slot the decoding needs
            num_cpus=0,
            compute=TaskPoolStrategy(size=max(2, self.actors)),
            fn_kwargs=store,
        )
