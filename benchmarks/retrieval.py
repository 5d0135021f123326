"""Measure search: recall and precision of everyday queries, before and after keywords.

Indexes photos whose subjects are known, then searches everyday words, general
ones included (``person``, ``animal``, ``food``, ``vehicle``), and prints recall
and precision per query for four set-ups, one run:

    before      plain beam-search captions only, words as typed (``--exact``):
                annotator before issue 11
    +concepts   plain captions only, general words expanded
    +keywords   tag-guided captions (novel words included) and keywords, words as typed
    after       tag-guided captions and keywords, general words expanded (the default)

Photos (read in place, never copied; research licences):
- ``imagenet-samples``: one photo per ImageNet class. A photo is relevant to a
  query when the query is a lemma of its class's WordNet synset or of one of
  its hypernyms (WordNet 3.0 from ``/usr/share/wordnet``, a development tool
  here: annotator itself never reads WordNet). "person" is thus relevant only to
  the few person classes (groom, scuba diver, ballplayer), so precision of person
  queries on these photos is a lower bound.
- Flickr8k test photos: relevant when at least two of the five reference captions
  use the query or a word under it (the same WordNet hypernyms).

Each photo is encoded once; its features are decoded twice, by plain beam search
(``guidance="none"``) and by the captioner's default tag-guided search; keywords
come from the encoder's ImageNet head in the same forward pass. Results are cached
(``--cache``) so that a re-run only re-searches::

    nice -n 10 python benchmarks/retrieval.py --imagenet 1000 --flickr 300
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.core.settings import DEFAULT_LENGTH_PENALTY  # noqa: E402
from annotator.core.types import CaptionResult, Keyword  # noqa: E402
from annotator.keywords import aggregate, guidance  # noqa: E402
from annotator.library import Library, open_library  # noqa: E402
from annotator.library.testing import complete_job, upsert_photo  # noqa: E402
from annotator.model.captioner import Captioner  # noqa: E402
from annotator.model.preprocess import load_image  # noqa: E402
from tools.make_concepts import _base, _read_exceptions, _read_index, read_data  # noqa: E402

DATASETS = Path("/work/shared/datasets")
QUERIES = (
    "person", "man", "woman", "child", "animal", "dog", "cat", "bird", "horse", "fish",
    "food", "pizza", "fruit", "vehicle", "car", "bus", "boat", "bicycle", "aircraft",
    "instrument", "laptop", "computer", "furniture", "ball", "building",
)  # fmt: skip


def photos(n_imagenet: int, n_flickr: int) -> list[tuple[Path, str, object]]:
    """Return (path, kind, truth) for the photos: kind "imagenet" (wnid) or "flickr" (refs)."""
    out: list[tuple[Path, str, object]] = []
    inet = DATASETS / "imagenet-samples"
    labels = json.loads((inet / "labels.json").read_text())
    step = max(1, len(labels) // max(1, n_imagenet))
    for entry in labels[::step][:n_imagenet]:
        out.append((inet / "images" / entry["file"], "imagenet", entry["wnid"]))
    flickr = DATASETS / "flickr8k"
    data = json.loads((flickr / "dataset_flickr8k.json").read_text())
    test = [im for im in data["images"] if im["split"] == "test"][:n_flickr]
    for im in test:
        refs = [s["tokens"] for s in im["sentences"]]
        out.append((flickr / "images" / im["filename"], "flickr", refs))
    return out


def caption_all(
    captioner: Captioner, paths: list[Path], batch: int, beam: int
) -> list[tuple[str, str, list[Keyword]]]:
    """Return (plain caption, guided caption, keywords) per photo, from one encoder pass."""
    out: list[tuple[str, str, list[Keyword]]] = []
    t0 = time.monotonic()
    for lo in range(0, len(paths), batch):
        x = torch.stack(
            [load_image(p, captioner.preprocess).tensor for p in paths[lo : lo + batch]]
        )
        grid, logits = captioner.encode_with_logits(x)  # (B, P, E), (B, 1000)
        plain: list[CaptionResult] = captioner.caption_features(
            grid, beam_size=beam, class_logits=logits, guidance="none"
        )
        guided: list[CaptionResult] = captioner.caption_features(
            grid, beam_size=beam, class_logits=logits
        )
        out += [(p.text, g.text, list(g.keywords)) for p, g in zip(plain, guided, strict=True)]
        done = lo + len(x)
        rate = done / (time.monotonic() - t0)
        print(f"\r  captioned {done}/{len(paths)} ({rate:.1f} photos/s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def concept_sets(wordnet: Path) -> tuple:
    """Return helpers mapping a synset or a word to the lemmas above it (itself included)."""
    data = read_data(wordnet)
    index = _read_index(wordnet)
    exceptions = _read_exceptions(wordnet)

    def above(offset: str) -> set[str]:
        seen, stack = {offset}, [offset]
        while stack:
            for h in data[stack.pop()][1]:
                if h not in seen:
                    seen.add(h)
                    stack.append(h)
        return {lemma for o in seen for lemma in data[o][0]}

    cache: dict[str, set[str]] = {}

    def word_concepts(word: str) -> set[str]:
        if word not in cache:
            base = _base(word, index, exceptions)
            senses = index.get(base, [])[:1] if base else []  # the word's first, common sense
            cache[word] = {word, *(above(senses[0]) if senses else ())}
        return cache[word]

    return above, word_concepts


def relevant(items: list[tuple[Path, str, object]], wordnet: Path) -> dict[str, set[int]]:
    """Return {query: indices of the photos that show it}."""
    above, word_concepts = concept_sets(wordnet)
    truth: dict[str, set[int]] = defaultdict(set)
    for i, (_, kind, info) in enumerate(items):
        if kind == "imagenet":
            lemmas = above(str(info)[1:])
            for q in QUERIES:
                if q in lemmas:
                    truth[q].add(i)
        else:
            refs: list[list[str]] = info  # type: ignore[assignment]
            for q in QUERIES:
                votes = sum(any(q in word_concepts(w) for w in ref) for ref in refs)
                if votes >= 2:
                    truth[q].add(i)
    return truth


def build_library(
    folder: Path, name: str, items: list, captions: list, *, keywords: bool
) -> tuple[Library, dict[str, int]]:
    """Return a library of the photos with their captions (and keywords), and path -> index."""
    from annotator.library.testing import caption_result

    library = open_library(folder / f"{name}.sqlite3")
    where: dict[str, int] = {}
    roots = {p.parent for p, _, _ in items}
    root_ids = {r: library.add_root(r).id for r in roots}
    for i, ((path, _, _), (text, kws)) in enumerate(zip(items, captions, strict=True)):
        pid = upsert_photo(library, root_ids[path.parent], path, f"h{i}", 1, 1.0, 1, 1).photo_id
        library.enqueue([pid])
        (job,) = library.claim_jobs(1)
        result = caption_result(text or "photo", keywords=tuple(kws) if keywords else ())
        complete_job(library, job.job_id, result, "bench")
        where[str(path)] = i
    return library, where


def measure(library: Library, where: dict[str, int], query: str, exact: bool) -> set[int]:
    """Return the indices of the photos a search finds."""
    hits = library.search(query, exact=exact, limit=10_000, include_missing=True)
    return {where[str(h.path)] for h in hits}


def main() -> None:
    """Caption, index, search, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--imagenet", type=int, default=1000, help="ImageNet photos (max 1000)")
    parser.add_argument("--flickr", type=int, default=300, help="Flickr8k test photos")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "retrieval.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    items = photos(args.imagenet, args.flickr)
    key = {
        "model": args.model,
        "beam": args.beam_size,
        "paths": [str(p) for p, _, _ in items],
        "format": 2,  # plain and guided captions
        # the decoding and keyword defaults: a cache from other defaults is stale
        "defaults": [
            DEFAULT_LENGTH_PENALTY,
            guidance.GUIDANCE_THRESHOLD,
            guidance.NOVEL_GUIDANCE_THRESHOLD,
            guidance.NOVEL_MAX_DROP,
            guidance.GUIDANCE_MAX_CONSTRAINTS,
            aggregate.DEFAULT_THRESHOLD,
            aggregate.EXTRA_THRESHOLD,
            aggregate.LEAF_THRESHOLD,
            aggregate.SIBLING_THRESHOLD,
            aggregate.SIBLING_RATIO,
        ],
    }
    cached = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    if cached.get("key") == key:
        captions = [
            (t, g, [Keyword(k["w"], tuple(k["h"]), k["p"]) for k in ks])
            for t, g, ks in cached["captions"]
        ]
        print(f"captions and keywords from {args.cache}", file=sys.stderr)
    else:
        captioner = Captioner.load(args.model, "cpu")
        print(f"model {captioner.model_id}; head: {captioner.encoder.has_head}", file=sys.stderr)
        captions = caption_all(captioner, [p for p, _, _ in items], args.batch_size, args.beam_size)
        args.cache.write_text(
            json.dumps(
                {
                    "key": key,
                    "captions": [
                        (
                            t,
                            g,
                            [{"w": k.word, "h": list(k.hierarchy), "p": k.probability} for k in ks],
                        )
                        for t, g, ks in captions
                    ],
                }
            )
        )
    truth = relevant(items, args.wordnet)
    with tempfile.TemporaryDirectory() as tmp:
        plain, where = build_library(
            Path(tmp), "captions", items, [(t, []) for t, _, _ in captions], keywords=False
        )
        full, _ = build_library(
            Path(tmp), "keywords", items, [(g, ks) for _, g, ks in captions], keywords=True
        )
        setups = [
            ("before", plain, True),
            ("+concepts", plain, False),
            ("+keywords", full, True),
            ("after", full, False),
        ]
        n_inet = sum(k == "imagenet" for _, k, _ in items)
        print(
            f"{len(items)} photos ({n_inet} ImageNet samples, {len(items) - n_inet} Flickr8k test);"
            f" {sum(1 for _, _, k in captions if k)} with keywords; recall / precision (found)"
        )
        head = f"{'query':<11}{'relevant':>9}" + "".join(f"{n:>23}" for n, _, _ in setups)
        print(head)
        recalls: dict[str, list[float]] = defaultdict(list)
        precisions: dict[str, list[float]] = defaultdict(list)
        for q in QUERIES:
            rel = truth.get(q, set())
            row = f"{q:<11}{len(rel):>9}"
            for name, lib, exact in setups:
                found = measure(lib, where, q, exact)
                hit = len(found & rel)
                r = f"{hit / len(rel):.0%}" if rel else "-"
                p = f"{hit / len(found):.0%}" if found else "-"
                row += f"{r:>10} / {p:>4} ({len(found):>3})"
                if rel:  # queries with something to find
                    recalls[name].append(hit / len(rel))
                    precisions[name].append(hit / len(found) if found else 0.0)
            print(row)
        avg = f"{'mean':<11}{'':>9}"
        for name, _, _ in setups:
            r_mean = float(np.mean(recalls[name]))
            p_mean = float(np.mean(precisions[name]))
            avg += f"{r_mean:>10.0%} / {p_mean:>4.0%}      "
        print(avg)
        print("(means over queries with relevant photos; finding nothing is precision 0)")
        plain.close()
        full.close()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
