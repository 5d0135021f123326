"""Measure keywords and tag-guided decoding, printed in one run.

1. imagenet-samples (1,000 photos, one per ImageNet class): share of photos whose
   caption names the class's everyday word or a synonym, and whose keywords contain
   it; before (plain beam search, no keywords) and after (keywords, tag-guided
   decoding, repetition control). Also on the held-out half (odd class indices;
   the even half is the dev half used by ``--calibrate``).
2. Flickr8k Karpathy test at beam 3: BLEU-4 and CIDEr-D with guidance off/on and
   repetition control off/on, plus repeated content bigrams and function-word ends.
3. Cost: captions/s with guidance and repetition control on versus off.

``--calibrate`` instead prints the tables the defaults were picked from: keyword
threshold on the imagenet dev half, guidance threshold and constraint count on
Flickr8k **val** and the imagenet dev half, and the length penalty on Flickr8k val.

    nice -n 10 python benchmarks/keywords.py [--calibrate] [--limit N]

Features are cached (``--cache``, default the user cache) so a second run is fast.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.core.settings import cache_dir
from annotator.keywords.aggregate import (
    DEFAULT_THRESHOLD,
    class_probabilities,
    keywords_from_prob_batch,
)
from annotator.keywords.guidance import word_forms
from annotator.keywords.table import ClassEntry, load_table
from annotator.model.beam import FUNCTION_WORDS
from annotator.model.captioner import Captioner
from annotator.train.dataset import load_karpathy, references, split_entries
from annotator.train.features import cached_features
from annotator.train.metrics import score_captions

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def features_for(cap: Captioner, paths: Sequence[Path], cache: Path) -> np.ndarray:
    """Return cached encoder features (N, P, E) for ``paths``."""
    return cached_features(
        cap.encoder, cap.preprocess, list(paths), cache, batch_size=32, workers=1, progress=False
    )


def decode_all(
    cap: Captioner, feats: np.ndarray, *, batch: int = 50, **kw: object
) -> tuple[list[list[str]], list[list[str]], float]:
    """Caption cached features; return words, keyword words per photo and seconds spent."""
    words, kws, spent = [], [], 0.0
    for lo in range(0, len(feats), batch):
        f = torch.from_numpy(feats[lo : lo + batch].astype(np.float32))  # (b, P, E)
        t0 = time.perf_counter()
        res = cap.caption_features(f, beam_size=3, **kw)  # type: ignore[arg-type]
        spent += time.perf_counter() - t0
        words += [list(r.words) for r in res]
        kws += [[k.word for k in r.keywords] for r in res]
    return words, kws, spent


def names(words: Sequence[str], forms: Sequence[str]) -> bool:
    """Return True when the caption ``words`` contain one of ``forms`` (phrases too)."""
    for f in forms:
        fw = f.split()
        n = len(fw)
        if any(list(words[i : i + n]) == fw for i in range(len(words) - n + 1)):
            return True
    return False


def forms_of(e: ClassEntry) -> tuple[str, ...]:
    """Return every form that names class ``e``: its synonyms and its keyword's forms."""
    return tuple(dict.fromkeys([*e.synonyms, *word_forms(e.keyword)]))


def repeats(words: Sequence[str]) -> bool:
    """Return True when a bigram with a content word occurs twice."""
    grams = [
        g
        for g in itertools.pairwise(words)
        if not (g[0] in FUNCTION_WORDS and g[1] in FUNCTION_WORDS)
    ]
    return len(grams) != len(set(grams))


def imagenet_set(cap: Captioner, root: Path, cache: Path, limit: int | None):
    """Return the table entries, features and class probabilities of imagenet-samples."""
    labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    feats = features_for(cap, [root / "images" / x["file"] for x in labels], cache)  # all cached
    if limit:  # an even spread over the class order (animals first, objects, food, ...)
        keep = sorted({round(float(x)) for x in np.linspace(0, len(labels) - 1, limit)})
        labels, feats = [labels[i] for i in keep], feats[keep]
    table = load_table()
    entries = [table[next(i for i, e in enumerate(table) if e.wnid == x["wnid"])] for x in labels]
    logits = cap.logits_from_features(torch.from_numpy(feats.astype(np.float32)))
    assert logits is not None, "the model's encoder has no ImageNet head"
    return entries, feats, class_probabilities(logits.numpy())


def share(flags: Sequence[bool], idx: Sequence[int] | None = None) -> float:
    """Return the percentage of True among ``flags`` (optionally at ``idx`` only)."""
    sel = [flags[i] for i in idx] if idx is not None else list(flags)
    return 100.0 * sum(sel) / max(1, len(sel))


def imagenet_report(cap: Captioner, root: Path, cache: Path, limit: int | None) -> None:
    """Print caption and keyword shares before and after on imagenet-samples."""
    entries, feats, probs = imagenet_set(cap, root, cache, limit)
    n = len(entries)
    held = [i for i in range(n) if entries[i].index % 2 == 1]
    forms = [forms_of(e) for e in entries]
    in_vocab = [any(" " not in f and f in cap.vocab for f in fs) for fs in forms]
    before, _, _ = decode_all(cap, feats, guidance="none", repetition=False)
    after, kws, _ = decode_all(cap, feats, guidance="tags", repetition=True)
    kw_ok = [any(k in fs for k in ks) for ks, fs in zip(kws, forms, strict=True)]
    cap_b = [names(w, fs) for w, fs in zip(before, forms, strict=True)]
    cap_a = [names(w, fs) for w, fs in zip(after, forms, strict=True)]
    top1 = [int(p.argmax()) == e.index for p, e in zip(probs, entries, strict=True)]
    no_kw = [not ks for ks in kws]
    print(f"\n## imagenet-samples ({n} photos; held-out half: {len(held)} odd class indices)\n")
    print("| measure | all | held-out half |")
    print("|---|---:|---:|")
    rows = [
        ("classifier top-1 (optimistic: ImageNet train photos)", top1),
        ("caption names the subject, before (plain beam, no repetition control)", cap_b),
        ("caption names the subject, after (tags + repetition control)", cap_a),
        ("ceiling: subject has a single-word form in the caption vocabulary", in_vocab),
        ("keywords contain the subject, before (no keywords)", [False] * n),
        ("keywords contain the subject, after", kw_ok),
        ("photos with no keyword (classifier unsure)", no_kw),
    ]
    for name, flags in rows:
        print(f"| {name} | {share(flags):.1f} % | {share(flags, held):.1f} % |")
    reach = [i for i in range(n) if in_vocab[i]]
    print(
        f"\ncaption names the subject where the vocabulary can (n={len(reach)}): "
        f"before {share(cap_b, reach):.1f} %, after {share(cap_a, reach):.1f} %"
    )
    for i in range(0, n, max(1, n // 8)):
        print(f"  {entries[i].label!r}: {' '.join(before[i])!r} -> {' '.join(after[i])!r} {kws[i]}")


def flickr_split(cap: Captioner, root: Path, split: str, cache: Path, limit: int | None):
    """Return (features, references) of a Flickr8k Karpathy split."""
    entries = split_entries(load_karpathy(root / "dataset_flickr8k.json", root / "images"), split)
    if split == "test":  # the whole split is cached once; --limit takes its first photos
        feats = features_for(cap, [e.path for e in entries], cache)[:limit]
        return feats, references(entries[:limit])
    entries = entries[:limit]
    return features_for(cap, [e.path for e in entries], cache), references(entries)


def flickr_scores(
    cap: Captioner, feats: np.ndarray, refs: dict[str, list[str]], **kw: object
) -> dict[str, float]:
    """Decode and score one configuration; returns metrics, repeat counts and photos/s."""
    words, _, spent = decode_all(cap, feats, **kw)
    hyps = {str(i): " ".join(w) for i, w in enumerate(words)}
    s = score_captions(hyps, refs, meteor=False)
    return {
        "BLEU-4": float(s["BLEU-4"]),
        "CIDEr-D": float(s["CIDEr-D"]),
        "repeats": sum(repeats(w) for w in words),
        "fn_end": sum(bool(w) and w[-1] in FUNCTION_WORDS for w in words),
        "distinct": 100.0 * len(set(hyps.values())) / len(hyps),
        "cps": len(words) / spent,
    }


def flickr_report(cap: Captioner, root: Path, cache: Path, limit: int | None) -> None:
    """Print Flickr8k test rows for guidance and repetition control off/on."""
    feats, refs = flickr_split(cap, root, "test", cache, limit)
    print(f"\n## Flickr8k Karpathy test, beam 3 ({len(refs)} photos)\n")
    print("| guidance | repetition control | BLEU-4 | CIDEr-D | repeated bigram | "
          "ends on function word | distinct % | decode captions/s |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for g, r in (("none", False), ("none", True), ("tags", False), ("tags", True)):
        m = flickr_scores(cap, feats, refs, guidance=g, repetition=r)
        rows[(g, r)] = m
        print(
            f"| {g} | {'on' if r else 'off'} | {m['BLEU-4']:.2f} | {m['CIDEr-D']:.2f} | "
            f"{m['repeats']} | {m['fn_end']} | {m['distinct']:.1f} | {m['cps']:.1f} |"
        )
    base = rows[("none", False)]["cps"]
    ratio = {key: base / m["cps"] for key, m in rows.items()}
    print(
        f"\ndecode-only slowdown vs plain: guidance {ratio[('tags', False)]:.2f}x, "
        f"repetition control {ratio[('none', True)]:.2f}x, both {ratio[('tags', True)]:.2f}x"
    )


def speed_report(cap: Captioner, root: Path, n: int) -> None:
    """Print end-to-end captions/s (encoder + decoder) with everything off versus on."""
    from annotator.model.preprocess import load_image

    labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))[::17][:n]
    x = torch.stack(
        [load_image(root / "images" / lb["file"], cap.preprocess).tensor for lb in labels]
    )
    cap.caption_tensors(x[:4], beam_size=3)  # warm up
    print(f"\n## End-to-end captions/s (encoder + beam 3, {len(x)} photos, batch 16)\n")
    print("| guidance | repetition control | captions/s |")
    print("|---|---|---:|")
    speed = {}
    for g, r in (("none", False), ("none", True), ("tags", False), ("tags", True)):
        t0 = time.perf_counter()
        for lo in range(0, len(x), 16):
            cap.caption_tensors(x[lo : lo + 16], beam_size=3, guidance=g, repetition=r)
        speed[(g, r)] = len(x) / (time.perf_counter() - t0)
        print(f"| {g} | {'on' if r else 'off'} | {speed[(g, r)]:.2f} |")
    print(
        f"\nslowdown: guidance {speed[('none', False)] / speed[('tags', False)]:.2f}x, "
        f"repetition control {speed[('none', False)] / speed[('none', True)]:.2f}x, "
        f"both {speed[('none', False)] / speed[('tags', True)]:.2f}x"
    )


def calibrate(
    cap: Captioner, inet: Path, flickr: Path, cache: Path, limit: int | None, dev_photos: int
) -> None:
    """Print the tables the keyword and guidance defaults were chosen from (no test data)."""
    entries, feats, probs = imagenet_set(cap, inet, cache, None)
    dev = [i for i in range(len(entries)) if entries[i].index % 2 == 0]
    forms = [forms_of(e) for e in entries]
    groups = [{"|".join(e.hierarchy[:n]) for n in range(1, len(e.hierarchy))} for e in entries]
    print(f"\n## Keyword threshold on the imagenet-samples dev half ({len(dev)} photos)\n")
    print("| threshold | recall (subject among keywords) | precision (keywords right) | "
          "photos without keyword |")  # fmt: skip
    print("|---:|---:|---:|---:|")
    for th in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        kws = keywords_from_prob_batch(probs[dev], threshold=th)
        hit = right = total = empty = 0
        for i, ks in zip(dev, kws, strict=True):
            hit += any(k.word in forms[i] for k in ks)
            empty += not ks
            for k in ks:  # right: names the subject, or a group above it ("animal")
                total += 1
                right += k.word in forms[i] or "|".join(k.hierarchy) in groups[i]
        print(f"| {th:.1f} | {100 * hit / len(dev):.1f} % | {100 * right / max(1, total):.1f} % | "
              f"{100 * empty / len(dev):.1f} % |")  # fmt: skip

    val_feats, val_refs = flickr_split(cap, flickr, "val", cache, limit)
    print(f"\n## Guidance on Flickr8k val ({len(val_refs)} photos) and the imagenet dev half\n")
    print("| guidance | threshold | constraints | val BLEU-4 | val CIDEr-D | "
          "imagenet dev: caption names subject |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    step = max(1, len(dev) // dev_photos)
    dev = dev[::step][:dev_photos]  # decoding is slow on a shared CPU: every n-th dev photo
    print(f"(imagenet dev photos decoded: {len(dev)})\n")
    dev_feats = feats[dev]
    configs = [("none", None, None), ("tags", 0.3, 1), ("tags", 0.5, 1), ("tags", 0.5, 2)]
    for g, th, n in configs:
        kw = {"guidance": g, "repetition": True, "guidance_threshold": th, "guidance_max": n}
        m = flickr_scores(cap, val_feats, val_refs, **kw)
        words, _, _ = decode_all(cap, dev_feats, **kw)
        named = share([names(w, forms[i]) for w, i in zip(words, dev, strict=True)])
        print(f"| {g} | {th or '-'} | {n or '-'} | {m['BLEU-4']:.2f} | {m['CIDEr-D']:.2f} | "
              f"{named:.1f} % |")  # fmt: skip

    print("\n## Length penalty on Flickr8k val (guidance and repetition control at defaults)\n")
    print("| length penalty | BLEU-4 | CIDEr-D |")
    print("|---:|---:|---:|")
    for lp in (0.0, 0.5, 1.0):
        m = flickr_scores(cap, val_feats, val_refs, length_penalty=lp)
        print(f"| {lp} | {m['BLEU-4']:.2f} | {m['CIDEr-D']:.2f} |")


def main() -> int:
    """Run the benchmark and print its tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--imagenet", type=Path, default=DATASETS / "imagenet-samples")
    ap.add_argument("--flickr8k", type=Path, default=DATASETS / "flickr8k")
    ap.add_argument("--cache", type=Path, default=cache_dir() / "features")
    ap.add_argument("--limit", type=int, default=None, help="photos per set (default all)")
    ap.add_argument("--speed-photos", type=int, default=48)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--dev-photos", type=int, default=150, help="imagenet dev photos to decode")
    ap.add_argument("--imagenet-limit", type=int, default=None)
    ap.add_argument(
        "--sections",
        default="imagenet,flickr,speed",
        help="comma-separated parts to run (default: imagenet,flickr,speed)",
    )
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    cap = Captioner.load(args.model, "cpu")
    print(f"model {cap.model_id}; keyword threshold {DEFAULT_THRESHOLD}; torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    if args.calibrate:
        calibrate(cap, args.imagenet, args.flickr8k, args.cache, args.limit, args.dev_photos)
        return 0
    if "imagenet" in args.sections:
        imagenet_report(cap, args.imagenet, args.cache, args.imagenet_limit)
    if "flickr" in args.sections:
        flickr_report(cap, args.flickr8k, args.cache, args.limit)
    if "speed" in args.sections:
        speed_report(cap, args.imagenet, args.speed_photos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
