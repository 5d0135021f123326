"""Benchmark end-to-end indexing against the encoder alone, and memory over a big library.

Part 1 (throughput): makes N camera-size JPEGs (default 500 at 4000x3000, upscaled
from the sample photos, saved with camera-like EXIF), then in one run measures
  a) end-to-end photos/s of indexing (scan + hash + decode + encode + beam search +
     store + metadata writing into the JPEGs) with this checkout's engine
     (``--engine``/``--precision``, default: auto),
  b) the encoder's forward pass alone on the same photos at the same batch size, with
     tensors decoded beforehand, and
  c) with ``--baseline DIR`` (another checkout, e.g. ``main``), the same indexing of a
     fresh copy of the same photos by that checkout's code with its own defaults, in a
     subprocess with ``PYTHONPATH=DIR``; the model is loaded before the clock starts in
     both runs;
and prints a / b, and a / c (issue 14's target: >= 4x).
Part 2 (memory): indexes M photos (default 5,000 at 1024x768) and prints the
resident memory every tenth of the run and the peak: it should stay flat.

Usage: python benchmarks/index.py [--photos 500] [--size 4000x3000] [--baseline DIR]
       [--memory-photos 5000] [--memory-size 1024x768] [--model PATH] [--workdir DIR]
       [--engine auto|torch|onnx] [--precision auto|fp32|int8]
(a reused ``--workdir`` keeps its generated photos; every run indexes fresh copies)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
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
            print(f"  {e.done} photos: {samples[-1][1]:.0f} MB resident", flush=True)

    with open_library(db) as lib:
        t = time.perf_counter()
        summary = Indexer(lib, settings, listener, captioner=cap).run([folder])
        dt = time.perf_counter() - t
    assert summary.failed == 0, summary.failures[:3]
    return summary.captioned / dt, samples


# Runs in the baseline checkout (its own API): load the model, then time Indexer.run.
BASELINE = """
import json, sys, time, torch
from pathlib import Path
from annotator.library.repository import open_library
from annotator.model.captioner import Captioner
from annotator.pipeline.runner import Indexer, IndexSettings
folder, db, model, batch, beam = sys.argv[1:6]
cap = Captioner.load(model if model != "-" else None, "cpu")
cap.encode(torch.zeros(1, 3, cap.preprocess.image_size, cap.preprocess.image_size))
settings = IndexSettings(batch_size=int(batch), beam_size=int(beam), metadata="embed")
with open_library(Path(db)) as lib:
    t = time.perf_counter()
    summary = Indexer(lib, settings, captioner=cap).run([Path(folder)])
    dt = time.perf_counter() - t
print(json.dumps({"captioned": summary.captioned, "failed": summary.failed, "seconds": dt}))
"""


def baseline_index(repo: Path, folder: Path, db: Path, model: str | None, args) -> float:
    """Index ``folder`` with the checkout at ``repo`` in a subprocess; return photos/s."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    argv = [str(folder), str(db), model or "-", str(args.batch_size), str(args.beam_size)]
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, *argv],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["failed"] == 0, out.stderr[-2000:]
    return res["captioned"] / res["seconds"]


def fresh_copy(src: Path, dst: Path) -> Path:
    """Copy the generated photos to ``dst`` (indexing writes captions into them)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description="benchmark indexing")
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--memory-photos", type=int, default=5000)
    ap.add_argument("--memory-size", default="1024x768")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="default: the indexer's")
    ap.add_argument("--model", default=None)
    ap.add_argument("--engine", default="auto")
    ap.add_argument(
        "--precision", default="auto", help="auto, fp32 or int8; a list (fp32,int8) measures each"
    )
    ap.add_argument("--baseline", type=Path, default=None, help="checkout to compare with")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="annotator-bench-"))
    precisions = args.precision.split(",")
    caps = {
        p: Captioner.load(args.model, "cpu", engine=args.engine, precision=p) for p in precisions
    }
    cap = caps[precisions[0]]
    extra = {"workers": args.workers} if args.workers else {}
    settings = IndexSettings(
        batch_size=args.batch_size, beam_size=args.beam_size, metadata="embed", **extra
    )
    print(
        f"model {cap.model_id}; encoder {cap.engine_name}; torch threads "
        f"{torch.get_num_threads()}; batch {args.batch_size}; beam {args.beam_size}; "
        f"threads {settings.threads}; workdir {work}"
    )

    if args.photos:
        size = tuple(int(x) for x in args.size.split("x"))
        t = time.perf_counter()
        photos = make_photos(work / "camera", args.photos, size, 2)
        mb = sum(p.stat().st_size for p in photos) / len(photos) / 2**20
        print(
            f"made {len(photos)} JPEGs of {size[0]}x{size[1]} ({mb:.1f} MB each) in "
            f"{time.perf_counter() - t:.0f} s"
        )
        old = None
        if args.baseline:
            for p in work.glob("lib-base*"):
                p.unlink()
            base = fresh_copy(work / "camera", work / "run-base")
            old = baseline_index(args.baseline, base, work / "lib-base.sqlite3", args.model, args)
            print(f"baseline {args.baseline} end-to-end --index: {old:7.2f} photos/s")
        for c in caps.values():
            before = encoder_only(c, photos, args.batch_size)
            run = fresh_copy(work / "camera", work / "run-new")
            for p in work.glob("lib-camera*"):
                p.unlink()
            e2e, _ = index(run, work / "lib-camera.sqlite3", c, settings)
            after = encoder_only(c, photos, args.batch_size)
            enc = max(before, after)  # the encoder warms up: compare with its best run
            print(f"[{c.engine_name}]")
            print(
                f"  encoder forward only (pre-decoded tensors): {before:7.2f} photos/s before, "
                f"{after:.2f} after the indexing run"
            )
            print(f"  end-to-end --index (metadata embed):        {e2e:7.2f} photos/s")
            print(f"  ratio end-to-end / encoder (best run): {e2e / enc:.2f}")
            if old is not None:
                print(f"  speed-up end-to-end vs the baseline: {e2e / old:.2f}x (target >= 4x)")

    if args.memory_photos:
        size = tuple(int(x) for x in args.memory_size.split("x"))
        make_photos(work / "many", args.memory_photos, size, 2)
        for p in work.glob("lib-many*"):
            p.unlink()
        rate, samples = index(
            fresh_copy(work / "many", work / "run-many"),
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
