"""Does int8 keep caption quality? Flickr8k test BLEU-4/CIDEr-D and ImageNet top-1 agreement.

Encodes the Flickr8k test split with the ONNX Runtime encoder in fp32 and in int8,
captions both at one beam size with the same decoder, and scores them with the
project's metrics; then compares the top-1 ImageNet class of fp32 and int8 on the
ImageNet sample photos (when the encoder keeps its ImageNet head). Prints whether int8
meets the bar for being the default (CIDEr-D within 1.0, BLEU-4 within 0.5, top-1
agreement >= 97 %).

    nice -n 10 python benchmarks/int8_quality.py [--model CKPT] [--limit N] [--beam-size 3]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from annotator.model.beam import beam_search
from annotator.model.captioner import Captioner
from annotator.model.preprocess import load_image
from annotator.model.runtime.cache import ModelCache
from annotator.model.runtime.engine import cpu_threads
from annotator.model.runtime.session import OnnxEncoder
from annotator.train.dataset import load_karpathy, references, split_entries
from annotator.train.metrics import score_captions

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def encode_all(encoders: dict[str, OnnxEncoder], paths: list[Path], cap: Captioner, batch: int):
    """Return {precision: (features (N, P, C), logits (N, K) or None)} for every photo."""
    feats: dict[str, list[torch.Tensor]] = {k: [] for k in encoders}
    logits: dict[str, list[torch.Tensor]] = {k: [] for k in encoders}
    with ThreadPoolExecutor(cpu_threads()) as pool:
        for lo in range(0, len(paths), batch):
            chunk = paths[lo : lo + batch]
            x = torch.stack(list(pool.map(lambda p: load_image(p, cap.preprocess).tensor, chunk)))
            for k, enc in encoders.items():
                f, lg = enc.features_and_logits(x)  # (b, P, C), (b, K) | None
                feats[k].append(f)
                if lg is not None:
                    logits[k].append(lg)
    return {k: (torch.cat(feats[k]), torch.cat(logits[k]) if logits[k] else None) for k in encoders}


def captions(cap: Captioner, feats: torch.Tensor, beam_size: int) -> list[str]:
    """Beam-search the best caption of every photo."""
    out: list[str] = []
    for lo in range(0, feats.size(0), 128):
        hyps = beam_search(
            cap.decoder,
            feats[lo : lo + 128],
            beam_size=beam_size,
            start=cap.vocab.start,
            end=cap.vocab.end,
            max_len=cap.ckpt.config.max_caption_len,
            min_len=1,
            banned=cap.vocab.never_generated(),
        )
        out.extend(" ".join(cap.vocab.decode(h[0].tokens)) for h in hyps)
    return out


def main() -> None:
    """Measure and print int8 vs fp32 quality."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--flickr", type=Path, default=DATA / "flickr8k")
    ap.add_argument("--imagenet", type=Path, default=DATA / "imagenet-samples")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()
    torch.set_num_threads(cpu_threads())
    t0 = time.monotonic()
    cap = Captioner.load(args.model, "cpu", engine="torch")
    cache = ModelCache(cap.encoder, cap.preprocess.image_size, cap.ckpt.version)
    encoders = {p: OnnxEncoder(cache, p) for p in ("fp32", "int8")}
    report: dict = {"model": cap.model_id, "beam_size": args.beam_size}

    entries = split_entries(
        load_karpathy(args.flickr / "dataset_flickr8k.json", args.flickr / "images"), "test"
    )[: args.limit]
    refs = references(entries)
    enc = encode_all(encoders, [e.path for e in entries], cap, args.batch)
    diff = (enc["int8"][0] - enc["fp32"][0]).abs()
    print(
        f"Flickr8k test: {len(entries)} photos; int8 - fp32 features: mean abs "
        f"{diff.mean():.4f}, max abs {diff.max():.3f} (fp32 mean {enc['fp32'][0].mean():.4f})"
    )
    texts = {}
    for p in ("fp32", "int8"):
        texts[p] = captions(cap, enc[p][0], args.beam_size)
        s = score_captions({str(i): h for i, h in enumerate(texts[p])}, refs, meteor=False)
        report[p] = {"BLEU-4": s["BLEU-4"], "CIDEr-D": s["CIDEr-D"]}
        print(f"  {p}: BLEU-4 {s['BLEU-4']:.2f}  CIDEr-D {s['CIDEr-D']:.2f}")
    same = sum(a == b for a, b in zip(texts["fp32"], texts["int8"], strict=True))
    report["identical_captions"] = same / len(entries)
    print(f"  identical captions: {same}/{len(entries)}")

    labels = json.loads((args.imagenet / "labels.json").read_text())[: args.limit]
    agree = None
    if encoders["fp32"].has_head:
        inet = encode_all(encoders, [args.imagenet / "images" / x["file"] for x in labels], cap, 32)
        top = {p: inet[p][1].argmax(1) for p in inet}  # (N,)
        truth = torch.arange(len(labels)) if args.limit is None else None
        agree = float((top["fp32"] == top["int8"]).float().mean()) * 100
        report["top1_agreement"] = agree
        line = f"ImageNet samples: {len(labels)} photos; top-1 agreement int8/fp32 {agree:.1f} %"
        if truth is not None:
            acc = {p: float((top[p] == truth).float().mean()) * 100 for p in top}
            report["top1_accuracy"] = acc
            line += f" (top-1 accuracy fp32 {acc['fp32']:.1f} %, int8 {acc['int8']:.1f} %)"
        print(line)
    else:
        print("ImageNet samples: skipped, this encoder has no ImageNet head")
    d_cider = report["int8"]["CIDEr-D"] - report["fp32"]["CIDEr-D"]
    d_bleu = report["int8"]["BLEU-4"] - report["fp32"]["BLEU-4"]
    ok = abs(d_cider) <= 1.0 and abs(d_bleu) <= 0.5 and agree is not None and agree >= 97.0
    report["int8_default_ok"] = ok
    print(
        f"int8 - fp32: CIDEr-D {d_cider:+.2f} (bar 1.0), BLEU-4 {d_bleu:+.2f} (bar 0.5), "
        f"top-1 agreement {'n/a' if agree is None else f'{agree:.1f} %'} (bar 97 %) -> "
        f"int8 {'may' if ok else 'may NOT'} be the default  [{time.monotonic() - t0:.0f} s]"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
