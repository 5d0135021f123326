"""Read Karpathy-format caption datasets (Flickr8k/30k, COCO, annotator exports).

A Karpathy JSON has ``images[]`` with ``filename``, optional ``filepath`` (COCO),
``split`` (train / val / test / restval) and ``sentences[]`` with ``tokens`` and
``raw``. ``restval`` counts as train, as in Karpathy's own code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from annotator.core.errors import FileOperationError
from annotator.model.vocab import Vocab, tokenize


@dataclass(frozen=True)
class ImageEntry:
    """One photo of a dataset with its reference captions."""

    path: Path
    split: str
    captions: tuple[tuple[str, ...], ...]  # tokenised references
    raw: tuple[str, ...] = ()  # the references as written
    key: str = ""  # filename (or filepath/filename), unique in the dataset


def load_karpathy(json_path: str | Path, images_dir: str | Path | None = None) -> list[ImageEntry]:
    """Load every image of a Karpathy-format JSON; ``images_dir`` defaults to its folder."""
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        images = data["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileOperationError(json_path, f"not a readable Karpathy dataset JSON: {exc}") from exc
    root = Path(images_dir) if images_dir is not None else json_path.parent
    entries: list[ImageEntry] = []
    for im in images:
        rel = Path(im.get("filepath", "")) / im["filename"]
        caps, raws = [], []
        for s in im.get("sentences", []):
            toks = s.get("tokens") or tokenize(s.get("raw", ""))
            if toks:
                caps.append(tuple(str(t).lower() for t in toks))
                raws.append(s.get("raw", " ".join(toks)))
        split = im.get("split", "train")
        split = "train" if split == "restval" else split
        entries.append(ImageEntry(root / rel, split, tuple(caps), tuple(raws), str(rel)))
    return entries


def split_entries(entries: list[ImageEntry], split: str) -> list[ImageEntry]:
    """Return the entries of one split that have at least one caption."""
    return [e for e in entries if e.split == split and e.captions]


def references(entries: Sequence[ImageEntry]) -> dict[str, list[str]]:
    """Return each photo's reference captions as written, keyed by its position."""
    return {str(i): list(e.raw or [" ".join(c) for c in e.captions]) for i, e in enumerate(entries)}


def build_vocab(entries: list[ImageEntry], min_freq: int = 5) -> Vocab:
    """Build the vocabulary from the training split's captions."""
    return Vocab.build(
        (c for e in split_entries(entries, "train") for c in e.captions), min_freq=min_freq
    )


def encode_captions(
    entries: list[ImageEntry],
    vocab: Vocab,
    *,
    captions_per_image: int = 5,
    max_len: int = 50,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode exactly ``captions_per_image`` captions per photo.

    Photos with fewer captions repeat some (sampled with a fixed seed), photos with
    more are subsampled, as the reference tutorial does. Returns token ids
    (N, cpi, max_len + 2) padded with ``<pad>`` and lengths (N, cpi) counting
    ``<start>`` and ``<end>``.
    """
    rng = random.Random(seed)
    width = max_len + 2
    ids = torch.full((len(entries), captions_per_image, width), vocab.pad, dtype=torch.long)
    lengths = torch.zeros((len(entries), captions_per_image), dtype=torch.long)
    for i, e in enumerate(entries):
        caps = list(e.captions)
        if not caps:
            raise ValueError(f"{e.path}: no captions")
        if len(caps) < captions_per_image:
            caps = caps + [rng.choice(caps) for _ in range(captions_per_image - len(caps))]
        elif len(caps) > captions_per_image:
            caps = rng.sample(caps, captions_per_image)
        for j, c in enumerate(caps):
            enc = vocab.encode(c, max_len=max_len)
            ids[i, j, : len(enc)] = torch.tensor(enc)
            lengths[i, j] = len(enc)
    return ids, lengths
