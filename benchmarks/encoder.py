"""Encoder photos/s at one batch size on the CPU: PyTorch eager, channels_last, ORT fp32/int8.

All four run in one process on the same preprocessed photos, interleaved round by
round (the machine may be shared and noisy); each engine's best round counts, and
the ratios to PyTorch eager are printed with the issue's targets (fp32 >= 5x,
int8 >= 10x). Also prints the max abs difference of the features to eager.

    nice -n 10 python benchmarks/encoder.py [--batch 16] [--rounds 5] [--model CKPT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotator.model.captioner import Captioner  # noqa: E402
from annotator.model.preprocess import load_image  # noqa: E402
from annotator.model.runtime.cache import ModelCache  # noqa: E402
from annotator.model.runtime.engine import cpu_threads  # noqa: E402
from annotator.model.runtime.session import OnnxEncoder  # noqa: E402


def photos_per_second(fn, x: torch.Tensor) -> float:
    """Return photos/s of one call of ``fn`` on the batch ``x``."""
    t = time.perf_counter()
    fn(x)
    return x.size(0) / (time.perf_counter() - t)


def main() -> None:
    """Measure and print the four engines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="default: one per core")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    threads = args.threads or cpu_threads()
    torch.set_num_threads(threads)
    cap = Captioner.load(args.model, "cpu", engine="torch")
    samples = sorted((REPO / "resources" / "samples").glob("*.jpg"))
    photos = [samples[i % len(samples)] for i in range(args.batch)]
    x = torch.stack([load_image(p, cap.preprocess).tensor for p in photos])  # (B, 3, S, S)
    eager = cap.encoder.eval()
    cl = Captioner.load(args.model, "cpu", engine="torch").encoder.eval()
    cl = cl.to(memory_format=torch.channels_last)
    cache = ModelCache(eager, cap.preprocess.image_size, cap.ckpt.version)
    engines = {
        "torch eager": eager,
        "torch channels_last": lambda b: cl(b.contiguous(memory_format=torch.channels_last)),
        "onnxruntime fp32": OnnxEncoder(cache, "fp32", threads=threads),
        "onnxruntime int8": OnnxEncoder(cache, "int8", threads=threads),
    }
    best = dict.fromkeys(engines, 0.0)
    with torch.inference_mode():
        ref = eager(x)  # (B, P, C)
        diffs = {name: (fn(x) - ref).abs().max().item() for name, fn in engines.items()}
        for _ in range(args.rounds):
            for name, fn in engines.items():
                best[name] = max(best[name], photos_per_second(fn, x))
    print(
        f"encoder {cap.ckpt.config.encoder}, batch {args.batch} at {cap.preprocess.image_size} px, "
        f"{threads} threads, best of {args.rounds} interleaved rounds"
    )
    targets = {"onnxruntime fp32": 5.0, "onnxruntime int8": 10.0}
    for name, rate in best.items():
        ratio = rate / best["torch eager"]
        goal = f"  (target >= {targets[name]:.0f}x)" if name in targets else ""
        print(
            f"  {name:22s} {rate:7.2f} photos/s  {ratio:5.2f}x eager{goal}  "
            f"max |features - eager| {diffs[name]:.2e}"
        )


if __name__ == "__main__":
    main()
