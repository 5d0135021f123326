"""Evaluate a checkpoint on a dataset split at several beam sizes, like the papers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from annotator.core.settings import cache_dir as default_cache_dir
from annotator.model.captioner import Captioner
from annotator.train.dataset import load_karpathy, references, split_entries
from annotator.train.features import cached_features
from annotator.train.loop import decode_split
from annotator.train.metrics import score_captions


def evaluate(
    model: str | Path | None,
    dataset: str | Path,
    images: str | Path | None = None,
    *,
    split: str = "test",
    beam_sizes: Sequence[int] = (1, 3, 5),
    device: str = "auto",
    limit: int | None = None,
    batch_size: int = 64,
    workers: int = 2,
    cache_dir: str | Path | None = None,
    meteor: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Caption a split at each beam size and score it; returns metrics per beam size."""
    cap = Captioner.load(model, device)
    entries = split_entries(load_karpathy(dataset, images), split)[:limit]
    if not entries:
        raise ValueError(f"{dataset}: no photos in split {split!r}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir() / "features"
    feats = cached_features(
        cap.encoder,
        cap.preprocess,
        [e.path for e in entries],
        cache,
        batch_size=batch_size,
        workers=workers,
        device=cap.device,
        progress=progress,
    )
    refs = references(entries)
    results: dict[str, Any] = {
        "model": cap.model_id,
        "split": split,
        "photos": len(entries),
        "beams": {},
    }
    for k in beam_sizes:
        hyps = decode_split(
            cap.decoder,
            lambda lo, hi: torch.from_numpy(feats[lo:hi].astype("float32")),
            len(entries),
            cap.vocab,
            beam_size=k,
            max_len=cap.ckpt.config.max_caption_len,
            device=cap.device,
        )
        scores = score_captions({str(i): h for i, h in enumerate(hyps)}, refs, meteor=meteor)
        scores["distinct"] = 100.0 * len(set(hyps)) / len(hyps)
        results["beams"][str(k)] = scores
        results.setdefault("examples", {})[str(k)] = [
            {"photo": entries[i].key, "caption": hyps[i]} for i in range(min(5, len(hyps)))
        ]
    return results


def format_table(results: dict[str, Any]) -> str:
    """Render the beam-size table and every metric as text."""
    metrics = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "distinct"]
    present = [m for m in metrics if any(m in r for r in results["beams"].values())]
    lines = [
        f"{results['model']} on {results['split']} ({results['photos']} photos)",
        "",
        "| beam | " + " | ".join(present) + " |",
        "|---:|" + "---:|" * len(present),
    ]
    for k, r in results["beams"].items():
        lines.append(
            f"| {k} | " + " | ".join(f"{r[m]:.1f}" if m in r else "-" for m in present) + " |"
        )
    notes = {r["note"] for r in results["beams"].values() if "note" in r}
    lines += [f"note: {n}" for n in sorted(notes)]
    return "\n".join(lines)
