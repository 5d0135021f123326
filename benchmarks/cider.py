"""Benchmark annotator's vectorised CIDEr-D against ``pycocoevalcap`` on 5,000 captions.

Prints, from one run on the same tokenised inputs (one caption per photo, 5,000 photos):
- corpus scoring as evaluation does it (document frequencies from these photos'
  references, everything built from scratch): pycocoevalcap's ``Cider`` vs
  :func:`annotator.train.cider.cider_d`, their ratio and the largest difference;
- reward scoring as self-critical training does it: the reference vectors built once
  (time printed), then 5,000 captions scored with :meth:`CiderD.score`, and the ratio
  to pycocoevalcap, which rebuilds everything on every call.

Captions: the references of the first 5,000 training photos of a Karpathy JSON
(``--dataset``; default the Flickr8k copy under ``/work/shared/datasets`` when present),
each photo's hypothesis being another photo's caption (a third of them the photo's own
first reference, a fifth cut short). Without a dataset, a reproducible random corpus.

Usage: python benchmarks/cider.py [--dataset JSON] [--captions N] [--repeats R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotator.train.cider import CiderD, cider_d  # noqa: E402

T = TypeVar("T")
FLICKR8K = Path("/work/shared/datasets/flickr8k/dataset_flickr8k.json")


def corpus(
    dataset: Path | None, n: int, seed: int = 0
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return ``n`` hypotheses and their photos' references, tokenised and space-joined."""
    rng = random.Random(seed)
    if dataset is not None:
        from annotator.train.dataset import load_karpathy, split_entries

        entries = split_entries(load_karpathy(dataset), "train")[:n]
        refs = {str(i): [" ".join(c) for c in e.captions] for i, e in enumerate(entries)}
    else:
        words = [f"w{i}" for i in range(800)]
        weights = [1.0 / (i + 1) for i in range(800)]  # Zipf-like
        refs = {
            str(i): [" ".join(rng.choices(words, weights, k=rng.randint(6, 16))) for _ in range(5)]
            for i in range(n)
        }
    keys = list(refs)
    hyps: dict[str, str] = {}
    for i, k in enumerate(keys):
        toks = (refs[k][0] if i % 3 == 0 else rng.choice(refs[rng.choice(keys)])).split()
        if i % 5 == 0:
            toks = toks[: rng.randint(1, len(toks))]
        hyps[k] = " ".join(toks)
    return hyps, refs


def timed(fn, repeats: int) -> tuple[float, object]:
    """Return the median seconds of ``repeats`` calls and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=FLICKR8K if FLICKR8K.exists() else None)
    ap.add_argument("--captions", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pycocoevalcap.cider.cider import Cider

    hyps, refs = corpus(args.dataset, args.captions)
    res = {k: [v] for k, v in hyps.items()}
    src = args.dataset.name if args.dataset else "random corpus"
    print(f"CIDEr-D of {len(hyps)} captions ({src}), median of {args.repeats} runs")

    t_ref, (s_ref, each_ref) = timed(lambda: Cider().compute_score(refs, res), args.repeats)
    t_ours, (s_ours, each_ours) = timed(lambda: cider_d(hyps, refs), args.repeats)
    diff = float(np.max(np.abs(np.asarray(each_ref) - each_ours)))
    print(f"pycocoevalcap Cider           {t_ref:8.3f} s   CIDEr-D {s_ref:.6f}")
    print(
        f"annotator cider_d (corpus)    {t_ours:8.3f} s   CIDEr-D {s_ours:.6f}   "
        f"speed-up x{t_ref / t_ours:.1f}   max |diff| {diff:.1e}"
    )
    t_build, scorer = timed(lambda: CiderD(refs), args.repeats)
    keys = list(hyps)
    captions = [hyps[k] for k in keys]
    t_score, each = timed(lambda: scorer.score(captions, keys), args.repeats)
    diff = float(np.max(np.abs(np.asarray(each_ref) - each)))
    print(f"annotator CiderD build once   {t_build:8.3f} s   (reference vectors, cached)")
    print(
        f"annotator CiderD.score        {t_score:8.3f} s   speed-up x{t_ref / t_score:.1f} "
        f"over pycocoevalcap per call   max |diff| {diff:.1e}"
    )


if __name__ == "__main__":
    main()
