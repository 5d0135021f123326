"""Package a trained checkpoint for shipping: half precision, metrics and notes inside.

    python -m annotator.train.release BEST.safetensors OUT.safetensors \
        --metrics val=VAL.json test=TEST.json [--name NAME]

VAL.json / TEST.json are ``annotator evaluate --json`` outputs; their per-beam scores
are stored in the checkpoint's metrics as ``{"val": {"3": {...}}, "test": {...}}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from annotator.model.checkpoint import load_checkpoint, save_checkpoint


def package(
    src: Path, out: Path, metrics: dict[str, Path], name: str | None = None, half: bool = True
) -> str:
    """Write ``src`` to ``out`` with evaluation metrics attached; return the new version."""
    ckpt = load_checkpoint(src)
    for split, path in metrics.items():
        data = json.loads(Path(path).read_text())
        ckpt.metrics[split] = data["beams"]
        ckpt.metrics[f"{split}_photos"] = data["photos"]
    if name:
        ckpt.name = name
    return save_checkpoint(ckpt, out, half=half)


def main() -> None:
    """Run the packaging command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--metrics", nargs="*", default=[], metavar="SPLIT=JSON")
    ap.add_argument("--name")
    ap.add_argument("--float32", action="store_true", help="keep float32 weights")
    args = ap.parse_args()
    metrics = dict(m.split("=", 1) for m in args.metrics)
    version = package(
        args.src,
        args.out,
        {k: Path(v) for k, v in metrics.items()},
        args.name,
        half=not args.float32,
    )
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.1f} MB, version {version}")


if __name__ == "__main__":
    main()
