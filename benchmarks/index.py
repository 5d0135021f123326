"""Benchmark end-to-end indexing against the encoder alone, and memory over a big library.

Part 1 (throughput): makes N camera-size JPEGs (default 500 at 4000x3000, upscaled
from the sample photos, saved with camera-like EXIF), then in one run measures
  a) end-to-end photos/s of indexing (scan + hash + decode + encode + beam search +
     store + metadata writing into the JPEGs), and
  b) the encoder's forward pass alone on the same photos at the same batch size, with
     tensors decoded beforehand,
and prints the ratio a / b (target >= 0.8).
Part 2 (memory): indexes M photos (default 5,000 at 1024x768) and prints the
resident memory every tenth of the run and the peak: it should stay flat.

Usage: python benchmarks/index.py [--photos 500] [--size 4000x3000]
       [--memory-photos 5000] [--memory-size 1024x768] [--model PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from photos import make_photos  # noqa: E402

from annotator.library.repository import open_library  # noqa: E402
from annotator.model.captioner import Captioner  # noqa: E402
from annotator.model.preprocess import load_image  # noqa: E402
from annotator.pipeline.runner import Indexer, IndexSettings, Progress  # noqa: E402


def rss_mb() -> float:
    """Return the current resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def encoder_only(cap: Captioner, paths: list[Path], batch: int) -> float:
    """Return photos/s of the encoder's forward pass on pre-decoded tensors."""
    tensors = [load_image(p, cap.preprocess).tensor for p in paths]
    cap.encode(torch.stack(tensors[:batch]))  # warm-up
    t = time.perf_counter()
    for lo in range(0, len(tensors), batch):
        cap.encode(torch.stack(tensors[lo : lo + batch]))
    return len(tensors) / (time.perf_counter() - t)


def index(
    folder: Path, db: Path, cap: Captioner, settings: IndexSettings, every: int = 0
) -> tuple[float, list[tuple[int, float]]]:
    """Index ``folder`` into a new library; return photos/s and (done, RSS MB) samples."""
    samples: list[tuple[int, float]] = []
    last = [0]

    def listener(e: object) -> None:
        if every and isinstance(e, Progress) and e.done - last[0] >= every:
            last[0] = e.done
            samples.append((e.done, rss_mb()))

    with open_library(db) as lib:
        t = time.perf_counter()
        summary = Indexer(lib, settings, listener, captioner=cap).run([folder])
        dt = time.perf_counter() - t
    assert summary.failed == 0, summary.failures[:3]
    return summary.captioned / dt, samples


def main() -> None:
    ap = argparse.ArgumentParser(description="benchmark indexing")
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--memory-photos", type=int, default=5000)
    ap.add_argument("--memory-size", default="1024x768")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="annotator-bench-"))
    cap = Captioner.load(args.model, "cpu")
    settings = IndexSettings(
        batch_size=args.batch_size, beam_size=args.beam_size, workers=args.workers, metadata="embed"
    )
    print(
        f"model {cap.model_id}; torch threads {torch.get_num_threads()}; "
        f"batch {args.batch_size}; beam {args.beam_size}; workdir {work}"
    )

    if args.photos:
        size = tuple(int(x) for x in args.size.split("x"))
        t = time.perf_counter()
        photos = make_photos(work / "camera", args.photos, size, args.workers)
        mb = sum(p.stat().st_size for p in photos) / len(photos) / 2**20
        print(
            f"made {len(photos)} JPEGs of {size[0]}x{size[1]} ({mb:.1f} MB each) in "
            f"{time.perf_counter() - t:.0f} s"
        )
        before = encoder_only(cap, photos, args.batch_size)
        e2e, _ = index(work / "camera", work / "lib-camera.sqlite3", cap, settings)
        after = encoder_only(cap, photos, args.batch_size)
        enc = max(before, after)  # the encoder warms up: compare with its best run
        print(
            f"encoder forward only (pre-decoded tensors): {before:7.2f} photos/s before, "
            f"{after:.2f} after the indexing run"
        )
        print(f"end-to-end --index (metadata embed):        {e2e:7.2f} photos/s")
        print(f"ratio end-to-end / encoder (best run): {e2e / enc:.2f} (target >= 0.8)")

    if args.memory_photos:
        size = tuple(int(x) for x in args.memory_size.split("x"))
        make_photos(work / "many", args.memory_photos, size, args.workers)
        rate, samples = index(
            work / "many",
            work / "lib-many.sqlite3",
            cap,
            settings,
            every=max(1, args.memory_photos // 10),
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"indexed {args.memory_photos} photos of {size[0]}x{size[1]} at {rate:.2f} "
            "photos/s; resident memory (MB) by photos done:"
        )
        print("  " + ", ".join(f"{n}: {m:.0f}" for n, m in samples))
        first, last = samples[0][1], samples[-1][1]
        print(
            f"  growth from {samples[0][0]} to {samples[-1][0]} photos: {last - first:+.0f} MB"
            f" ({(last - first) / max(1, samples[-1][0] - samples[0][0]) * 1000:.1f} MB per "
            f"1000 photos); peak RSS of the process {peak:.0f} MB"
        )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
