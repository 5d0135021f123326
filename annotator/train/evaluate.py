"""Evaluate a checkpoint on a dataset split at several beam sizes, like the papers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from annotator.core.settings import DEFAULT_LENGTH_PENALTY
from annotator.core.settings import cache_dir as default_cache_dir
from annotator.model.beam import Repetition, ends_on_function_word, repeated_content_bigram
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
    repetition: bool = True,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
) -> dict[str, Any]:
    """Caption a split at each beam size and score it; returns metrics per beam size.

    Decoding is the captioner's: repetition control on unless ``repetition`` is False.
    Besides the coco-caption metrics, each row counts distinct captions (%), captions
    with a repeated content-word bigram and captions ending on a function word.
    """
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
        "repetition_control": repetition,
        "length_penalty": length_penalty,
        "beams": {},
    }
    control = Repetition.for_words(cap.vocab.itos) if repetition else None
    for k in beam_sizes:
        hyps = decode_split(
            cap.decoder,
            lambda lo, hi: torch.from_numpy(feats[lo:hi].astype("float32")),
            len(entries),
            cap.vocab,
            beam_size=k,
            max_len=cap.ckpt.config.max_caption_len,
            device=cap.device,
            repetition=control,
            length_penalty=length_penalty,
        )
        scores = score_captions({str(i): h for i, h in enumerate(hyps)}, refs, meteor=meteor)
        scores["distinct"] = 100.0 * len(set(hyps)) / len(hyps)
        words = [h.split() for h in hyps]
        scores["repeated"] = float(sum(repeated_content_bigram(w) for w in words))
        scores["function end"] = float(sum(ends_on_function_word(w) for w in words))
        results["beams"][str(k)] = scores
        results.setdefault("examples", {})[str(k)] = [
            {"photo": entries[i].key, "caption": hyps[i]} for i in range(min(5, len(hyps)))
        ]
    return results


def _cell(row: dict[str, Any], metric: str) -> str:
    if metric not in row:
        return "-"
    return f"{row[metric]:.0f}" if metric in ("repeated", "function end") else f"{row[metric]:.1f}"


def format_table(results: dict[str, Any]) -> str:
    """Render the beam-size table and every metric as text."""
    metrics = [
        "BLEU-1",
        "BLEU-2",
        "BLEU-3",
        "BLEU-4",
        "METEOR",
        "ROUGE-L",
        "CIDEr-D",
        "distinct",
        "repeated",
        "function end",
    ]
    present = [m for m in metrics if any(m in r for r in results["beams"].values())]
    lines = [
        f"{results['model']} on {results['split']} ({results['photos']} photos; repetition "
        f"control {'on' if results.get('repetition_control', True) else 'off'}, length "
        f"penalty {results.get('length_penalty', 0.0):g})",
        "",
        "| beam | " + " | ".join(present) + " |",
        "|---:|" + "---:|" * len(present),
    ]
    for k, r in results["beams"].items():
        lines.append(f"| {k} | " + " | ".join(_cell(r, m) for m in present) + " |")
    notes = {r["note"] for r in results["beams"].values() if "note" in r}
    lines += [f"note: {n}" for n in sorted(notes)]
    return "\n".join(lines)
