"""Benchmark the Ray runner against the local indexer on the same photos, in one run.

Makes N photos (default 48 at 640x480, from the sample photos), then indexes them
into fresh libraries (SQLite files by default, or new PostgreSQL databases with
``--pg postgresql+psycopg://USER@HOST:PORT``) with
  a) the local indexer (``--runner local``),
  b) the Ray runner with 1 caption actor, and
  c) the Ray runner with 2 caption actors,
on a local Ray instance (``ray.init(num_cpus=2)``, started once, not timed: a
cluster is long-running). Each run is end to end: scan, hash, register, decode,
caption (model loaded in the timed run, per actor on Ray), store. It prints
photos/s and the ratio to the local indexer (target: Ray, 1 actor >= 0.8).

Usage: nice -n 10 python benchmarks/cluster.py [--photos 48] [--size 640x480]
       [--model PATH] [--beam-size 3] [--pg URL] [--cpus 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from photos import make_photos  # noqa: E402

from annotator.library.repository import open_library  # noqa: E402
from annotator.pipeline.cluster import ClusterOptions, RayIndexer  # noqa: E402
from annotator.pipeline.runner import Indexer, IndexSettings, RunSummary  # noqa: E402


def new_location(pg: str | None, work: Path) -> str:
    """Return a fresh library: a new PostgreSQL database under ``pg``, or a SQLite file."""
    if pg is None:
        return str(work / f"lib-{uuid.uuid4().hex[:8]}.sqlite3")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(pg)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def run(folder: Path, location: str, settings: IndexSettings, actors: int | None) -> float:
    """Index ``folder`` into a new library; return photos/s (local indexer if not actors)."""
    with open_library(location) as lib:
        t = time.perf_counter()
        summary: RunSummary
        if actors is None:
            summary = Indexer(lib, settings).run([folder])
        else:
            summary = RayIndexer(lib, settings, options=ClusterOptions(actors=actors)).run([folder])
        dt = time.perf_counter() - t
    assert summary.failed == 0, summary.failures[:3]
    return summary.captioned / dt


def main() -> None:
    """Run the comparison and print photos/s and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--model", default="")
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--pg", default=None, help="PostgreSQL server URL (default: SQLite)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    ap.add_argument(
        "--local-threads",
        type=int,
        default=0,
        help="torch threads of the local indexer (default: torch's; a Ray actor gets 1 per CPU)",
    )
    args = ap.parse_args()
    import ray

    w, h = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="annotator-cluster-bench-"))
    try:
        folder = work / "photos"
        make_photos(folder, args.photos, (w, h), exif=False)
        settings = IndexSettings(
            model=args.model,
            device="cpu",
            metadata="none",
            beam_size=args.beam_size,
            batch_size=args.batch_size,
            workers=1,
        )
        if args.local_threads:
            torch.set_num_threads(args.local_threads)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        rates: dict[str, float] = {}
        rates["local"] = run(folder, new_location(args.pg, work), settings, None)
        rates["ray, 1 actor"] = run(folder, new_location(args.pg, work), settings, 1)
        rates["ray, 2 actors"] = run(folder, new_location(args.pg, work), settings, 2)
        ray.shutdown()
        db = "PostgreSQL" if args.pg else "SQLite"
        print(f"{args.photos} photos at {w}x{h}, beam {args.beam_size}, batch "
              f"{args.batch_size}, {db}, Ray with {args.cpus} CPUs, local indexer with "
              f"{torch.get_num_threads()} torch threads")  # fmt: skip
        for name, rate in rates.items():
            ratio = rate / rates["local"]
            print(f"  {name:14s} {rate:7.2f} photos/s  ({ratio:.2f}x local)")
        target = rates["ray, 1 actor"] / rates["local"]
        verdict = "met" if target >= 0.8 else "NOT met"
        print(f"Ray 1 actor / local = {target:.2f} (target >= 0.8: {verdict})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
