"""Check the CUDA path against the CPU and measure it: one command, a few minutes.

1. Captions a set of photos on the CPU (PyTorch fp32, the reference) and on CUDA (the
   engine ``--engine auto`` picks there: ONNX Runtime's CUDA provider with
   onnxruntime-gpu, else PyTorch on the GPU) and checks that every caption has the same
   tokens and a score within 1e-3.
2. Prints the encoder's photos/s on CUDA on pre-decoded tensors, and end-to-end
   ``--index`` photos/s (metadata embed) on camera-size JPEGs, with their ratio.

On a machine without CUDA it says so and exits 0 without checking anything.

    python benchmarks/gpu_check.py [--photos 256] [--size 4000x3000] [--batch 32]
        [--beam 3] [--model CKPT] [--engine auto|torch|onnx]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from photos import make_photos  # noqa: E402

from annotator.core.types import CaptionResult  # noqa: E402
from annotator.library.repository import open_library  # noqa: E402
from annotator.model.captioner import Captioner  # noqa: E402
from annotator.model.preprocess import load_image  # noqa: E402
from annotator.pipeline.runner import Indexer, IndexSettings  # noqa: E402


def compare(cpu: list, gpu: list, paths: list[Path]) -> int:
    """Print every mismatch between CPU and CUDA captions; return how many there are."""
    bad = 0
    for path, a, b in zip(paths, cpu, gpu, strict=True):
        if not (isinstance(a, CaptionResult) and isinstance(b, CaptionResult)):
            print(f"  FAIL {path.name}: {a!r} / {b!r}")
            bad += 1
        elif a.words != b.words or abs(a.score - b.score) > 1e-3:
            print(f"  FAIL {path.name}: cpu {a.text!r} ({a.score:.5f})")
            print(f"       {path.name}: cuda {b.text!r} ({b.score:.5f})")
            bad += 1
    return bad


def encoder_rate(cap: Captioner, paths: list[Path], batch: int) -> float:
    """Return the CUDA encoder's photos/s on pre-decoded tensors."""
    x = torch.stack([load_image(p, cap.preprocess).tensor for p in paths[:batch]])  # (B, 3, S, S)
    cap.encode(x)
    torch.cuda.synchronize()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 5.0:
        cap.encode(x)
        n += x.size(0)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> int:
    """Run the check; return 1 if any CUDA caption differs from the CPU's."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=256)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--beam", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--engine", default="auto")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(
            "no CUDA: torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); nothing checked. "
            "Run this on a machine with an NVIDIA GPU."
        )
        return 0
    t0 = time.monotonic()
    gpu = Captioner.load(args.model, "cuda", engine=args.engine)
    print(
        f"GPU {torch.cuda.get_device_name(0)}; model {gpu.model_id}; CUDA encoder "
        f"{gpu.engine_name}{f' ({gpu.engine.note})' if gpu.engine.note else ''}"
    )
    cpu = Captioner.load(args.model, "cpu", engine="torch")
    with tempfile.TemporaryDirectory(prefix="annotator-gpu-") as tmp:
        work = Path(tmp)
        size = tuple(int(v) for v in args.size.split("x"))
        paths = make_photos(work / "photos", args.photos, size, 8)
        check = sorted((REPO / "resources" / "samples").glob("*.jpg")) + paths[:27]
        kw = {"batch_size": args.batch, "beam_size": args.beam}
        bad = compare(cpu.caption_files(check, **kw), gpu.caption_files(check, **kw), check)
        print(
            f"captions CUDA vs CPU on {len(check)} photos: "
            f"{'all equal (same tokens, scores within 1e-3)' if not bad else f'{bad} differ'}"
        )
        enc = encoder_rate(gpu, paths, args.batch)
        settings = IndexSettings(batch_size=args.batch, beam_size=args.beam, metadata="embed")
        with open_library(work / "lib.sqlite3") as lib:
            t = time.perf_counter()
            summary = Indexer(lib, settings, captioner=gpu).run([work / "photos"])
            e2e = summary.captioned / (time.perf_counter() - t)
        print(f"encoder only on CUDA (batch {args.batch}, pre-decoded): {enc:8.1f} photos/s")
        print(
            f"end-to-end --index on CUDA ({args.photos} JPEGs {size[0]}x{size[1]}, embed): "
            f"{e2e:8.1f} photos/s; end-to-end / encoder {e2e / enc:.3f}; "
            f"failed {summary.failed}"
        )
    print(f"done in {time.monotonic() - t0:.0f} s")
    return 1 if bad or summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
