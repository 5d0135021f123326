"""Fine-tune a captioner's decoder on the captions people corrected (an ``annotator export``).

The encoder stays frozen, so photo features are computed once and cached
(:mod:`annotator.train.features`). Steps:

1. Read the export (a Karpathy JSON): its ``train`` split is fine-tuned on, its
   ``val`` split is the held-out slice both models are scored on.
2. Grow the vocabulary (``grow_vocab``) by the words of the training corrections
   the base model lacks, seen at least ``min_word_count`` times. New words are
   appended, so existing indices keep their meaning. Each new word's embedding,
   output row and bias start as a copy of the word it replaced most often where
   the person edited the model's caption (aligning the export's ``model_caption``
   with the correction: "dog" -> "puppy" starts "puppy" as "dog"); failing that,
   the mean of the known words it splits into ("sunglasses" = "sun" + "glasses");
   failing that, the mean over the known words. Its output bias starts a little
   (``NEW_WORD_MARGIN``) lower, so before any training the known word wins ties.
3. Mix in a replay share of the original training data when given (a Karpathy
   JSON and its images): ``replay_share`` of the training pairs (photo, caption)
   come from its train split, to keep the model from forgetting.
4. Train the decoder with teacher forcing for ``epochs`` epochs (no selection on
   the held-out slice, so the comparison stays fair), then beam-decode the slice
   with the base and the new model and score both (BLEU-4, CIDEr-D; annotator's
   tokeniser, no METEOR), plus how often the new words are used where the
   references have them.
5. Write the checkpoint to ``out`` and install it as the default model
   (:func:`annotator.core.settings.set_default_model`) only when it is better on
   the slice: higher CIDEr-D and no lower BLEU-4; ``force`` installs it anyway.
"""

from __future__ import annotations

import difflib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from annotator.core.errors import FileOperationError
from annotator.core.settings import DEFAULT_BEAM_SIZE, default_model_path, set_default_model
from annotator.core.settings import cache_dir as default_cache_dir
from annotator.model.captioner import build_modules, resolve_device
from annotator.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from annotator.model.decoder import Decoder
from annotator.model.vocab import SPECIALS, Vocab, tokenize
from annotator.train.dataset import ImageEntry, load_karpathy, references, split_entries
from annotator.train.features import cached_features
from annotator.train.loop import bucketed_batches, caption_loss, decode_split
from annotator.train.metrics import score_captions

Log = Callable[[str], None]
GROWN = ("embedding.weight", "fc.weight", "fc.bias")  # decoder tensors with one row per word
NEW_WORD_MARGIN = 0.05  # output bias a new word starts below the word(s) it copies


@dataclass
class WordInit:
    """How a new word's rows were initialised: ``how`` is copy, pieces or mean."""

    word: str
    count: int
    how: str
    source: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return e.g. ``puppy (12x) <- dog``."""
        src = " + ".join(self.source) if self.source else "mean of the vocabulary"
        return f"{self.word} ({self.count}x) <- {src}"


@dataclass
class FinetuneResult:
    """The outcome of :func:`finetune`: scores before and after, and what was installed."""

    out: Path
    model_id: str
    base_model_id: str
    before: dict[str, float]
    after: dict[str, float]
    new_words: list[WordInit]
    better: bool
    installed: bool
    settings: Path | None = None
    replay_before: dict[str, float] | None = None
    replay_after: dict[str, float] | None = None
    train_pairs: int = 0
    replay_pairs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    examples: list[dict[str, str]] = field(default_factory=list)
    older_captions: int | None = None  # library captions from another model, never edited

    def lines(self) -> list[str]:
        """Return the before/after table and the decision as lines of text."""
        keys = [k for k in ("BLEU-4", "CIDEr-D", "new-word use") if k in self.after]
        out = [
            f"held-out corrections ({int(self.after['photos'])} photos, beam "
            f"{int(self.after['beam'])}):",
            f"  {'':8}" + "".join(f"{k:>14}" for k in keys),
            "  before  " + "".join(f"{self.before.get(k, float('nan')):14.2f}" for k in keys),
            "  after   " + "".join(f"{self.after[k]:14.2f}" for k in keys),
        ]
        if self.replay_before is not None and self.replay_after is not None:
            out.append(
                f"replay val ({int(self.replay_after['photos'])} photos): BLEU-4 "
                f"{self.replay_before['BLEU-4']:.2f} -> {self.replay_after['BLEU-4']:.2f}, "
                f"CIDEr-D {self.replay_before['CIDEr-D']:.2f} -> "
                f"{self.replay_after['CIDEr-D']:.2f}"
            )
        out.append(f"wrote {self.out} ({self.model_id})")
        if self.installed:
            why = "better than the base" if self.better else "forced"
            out.append(f"installed as the default model ({why}; recorded in {self.settings})")
        else:
            out.append(
                f"not installed: not better than {self.base_model_id} on the held-out "
                "corrections (higher CIDEr-D and no lower BLEU-4); --force installs it"
            )
        if self.older_captions:
            out.append(
                f"{self.older_captions} photo(s) have an unedited caption from another "
                "model; `annotator --index --recaption-older` re-captions them with the "
                "default model"
            )
        return out


# ---------------------------------------------------------------------------- vocabulary


def substitutions(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> dict[str, Counter[str]]:
    """Return, per corrected word, the model words it replaced.

    ``pairs`` are (model caption tokens, corrected tokens). Equal-length ``replace``
    spans of their alignment pair words up position by position ("a dog in the park"
    -> "a puppy on the park" pairs dog/puppy and in/on); spans of different lengths
    pair only their first words and their last words, the ones next to the words
    both captions share ("a dog running" -> "a small puppy running" pairs dog/small
    and dog/puppy). Votes add up over the export; the most frequent source wins.
    """
    subs: dict[str, Counter[str]] = {}
    for model, fixed in pairs:
        matcher = difflib.SequenceMatcher(a=list(model), b=list(fixed), autojunk=False)
        for op, a0, a1, b0, b1 in matcher.get_opcodes():
            if op != "replace":
                continue
            if a1 - a0 == b1 - b0:
                paired = list(zip(model[a0:a1], fixed[b0:b1], strict=True))
            else:
                paired = list(
                    dict.fromkeys([(model[a0], fixed[b0]), (model[a1 - 1], fixed[b1 - 1])])
                )
            for old, new in paired:
                subs.setdefault(new, Counter())[old] += 1
    return subs


def _pieces(word: str, vocab: Vocab) -> tuple[str, ...]:
    """Return two known words that make up ``word`` ("sunglasses" -> sun, glasses), or ()."""
    known = [
        (word[:i], word[i:])
        for i in range(2, len(word) - 1)
        if word[:i] in vocab
        and word[i:] in vocab
        and word[:i] not in SPECIALS
        and word[i:] not in SPECIALS
    ]
    return max(known, key=lambda ab: min(len(ab[0]), len(ab[1]))) if known else ()


def plan_new_words(
    counts: Counter[str], vocab: Vocab, subs: dict[str, Counter[str]], *, min_count: int = 2
) -> list[WordInit]:
    """Choose the words to add (most frequent first) and how to initialise each."""
    plans = []
    missing = [w for w in vocab.oov(counts) if counts[w] >= min_count]
    for w in sorted(missing, key=lambda w: (-counts[w], w)):
        known = [
            (old, n)
            for old, n in subs.get(w, Counter()).most_common()
            if old in vocab and old not in SPECIALS
        ]
        if known:
            plans.append(WordInit(w, counts[w], "copy", (known[0][0],)))
        elif pieces := _pieces(w, vocab):
            plans.append(WordInit(w, counts[w], "pieces", pieces))
        else:
            plans.append(WordInit(w, counts[w], "mean"))
    return plans


def grow_decoder_state(
    state: dict[str, torch.Tensor], vocab: Vocab, plans: Sequence[WordInit]
) -> tuple[dict[str, torch.Tensor], Vocab]:
    """Return the decoder state and vocabulary with one new row per planned word."""
    grown = Vocab([*vocab.itos, *(p.word for p in plans)])
    if not plans:
        return dict(state), grown
    regular = torch.tensor([i for i, w in enumerate(vocab.itos) if w not in SPECIALS])  # (K,)
    out = dict(state)
    for key in GROWN:
        old = state[key]  # (V, ...) one row per word
        rows = []
        for p in plans:
            if p.how == "mean" or not p.source:
                rows.append(old[regular].mean(dim=0))  # (...)
            else:
                idx = torch.tensor([vocab.stoi[s] for s in p.source])  # (S,)
                rows.append(old[idx].mean(dim=0))  # (...)
        new = torch.stack(rows)  # (N, ...)
        if key == "fc.bias":  # a hair less likely than its source: ties go to the known word
            new = new - NEW_WORD_MARGIN
        out[key] = torch.cat([old, new], dim=0)  # (V + N, ...)
    return out, grown


# ------------------------------------------------------------------------------ data


def _read_export(path: Path) -> tuple[list[ImageEntry], list[dict[str, Any]]]:
    """Return the export's entries and its raw image records, in the same order."""
    entries = load_karpathy(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # pragma: no cover - read above
        raise FileOperationError(path, f"not a readable Karpathy dataset JSON: {exc}") from exc
    return entries, records


def _model_tokens(record: dict[str, Any]) -> tuple[str, ...]:
    model = record.get("model_caption")
    if not isinstance(model, dict):
        return ()
    toks = model.get("tokens") or tokenize(str(model.get("raw", "")))
    return tuple(str(t).lower() for t in toks)


def _encode(
    captions: Sequence[Sequence[str]], vocab: Vocab, max_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode captions as padded ids (N, max_len + 2) and lengths (N,)."""
    ids = torch.full((len(captions), max_len + 2), vocab.pad, dtype=torch.long)  # (N, L)
    lengths = torch.zeros(len(captions), dtype=torch.long)  # (N,)
    for i, c in enumerate(captions):
        enc = vocab.encode(c, max_len=max_len)
        ids[i, : len(enc)] = torch.tensor(enc)
        lengths[i] = len(enc)
    return ids, lengths


def _replay_pairs(
    entries: Sequence[ImageEntry], n_pairs: int, seed: int
) -> tuple[list[ImageEntry], list[int], list[tuple[str, ...]]]:
    """Pick ``n_pairs`` (photo, caption) pairs from ``entries``: as many photos as possible."""
    rng = random.Random(seed)
    photos = rng.sample(list(entries), min(n_pairs, len(entries)))
    rows, caps = [], []
    for j in range(n_pairs if photos else 0):
        e = photos[j % len(photos)]
        rows.append(j % len(photos))
        caps.append(e.captions[(j // len(photos)) % len(e.captions)])
    return photos, rows, caps


# ---------------------------------------------------------------------------- scoring


def score_split(
    decoder: Decoder,
    feats: np.ndarray,
    entries: Sequence[ImageEntry],
    vocab: Vocab,
    *,
    beam_size: int,
    max_len: int,
    device: torch.device,
    new_words: Sequence[str] = (),
) -> tuple[dict[str, float], list[str]]:
    """Beam-decode ``entries`` and return (BLEU-4, CIDEr-D, new-word use, ...) and captions.

    ``new-word use`` is the share (x100) of photos whose references hold one of
    ``new_words`` whose caption holds one too.
    """
    hyps = decode_split(
        decoder,
        lambda lo, hi: torch.from_numpy(np.asarray(feats[lo:hi], dtype=np.float32)),
        len(entries),
        vocab,  # (b, P, E)
        beam_size=beam_size,
        max_len=max_len,
        device=device,
    )
    refs = references(entries)
    scores = score_captions({str(i): h for i, h in enumerate(hyps)}, refs, meteor=False, ptb=False)
    out = {
        "BLEU-4": float(scores["BLEU-4"]),
        "CIDEr-D": float(scores["CIDEr-D"]),
        "photos": float(len(entries)),
        "beam": float(beam_size),
    }
    if new_words:
        wanted = set(new_words)
        with_word = [i for i, e in enumerate(entries) if any(wanted & set(c) for c in e.captions)]
        if with_word:
            used = sum(bool(wanted & set(hyps[i].split())) for i in with_word)
            out["new-word use"] = 100.0 * used / len(with_word)
    return out, hyps


def is_better(before: dict[str, float], after: dict[str, float]) -> bool:
    """Return True if ``after`` has a higher CIDEr-D and no lower BLEU-4 than ``before``."""
    return after["CIDEr-D"] > before["CIDEr-D"] and after["BLEU-4"] >= before["BLEU-4"]


def older_model_captions(library: Any, model: Checkpoint) -> int:
    """Count present photos whose current caption is a model caption from another model.

    Those are what ``annotator --index --recaption-older`` re-captions with the
    default model (captions a person edited are human captions, never counted).
    """
    from annotator.library import Library, open_library

    mine = {model.model_id, model.version}
    lib = library if isinstance(library, Library) else open_library(library, create=False)
    try:
        return sum(
            1
            for c in lib.iter_current_captions()
            if c.source == "model" and c.model_version and c.model_version not in mine
        )
    finally:
        if lib is not library:
            lib.close()


# ------------------------------------------------------------------------------- main


def finetune(
    export_json: str | Path,
    base_model: str | Path | None,
    out: str | Path,
    *,
    grow_vocab: bool = True,
    min_word_count: int = 2,
    replay: str | Path | None = None,
    replay_images: str | Path | None = None,
    replay_share: float = 0.5,
    replay_val_limit: int = 100,
    epochs: int = 10,
    lr: float = 4e-4,
    batch_size: int = 32,
    alpha_c: float = 1.0,
    grad_clip: float = 5.0,
    beam_size: int = DEFAULT_BEAM_SIZE,
    force: bool = False,
    install: bool = True,
    library: Any = None,
    name: str | None = None,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    workers: int = 0,
    seed: int = 0,
    progress: bool = False,
    log: Log = print,
) -> FinetuneResult:
    """Fine-tune ``base_model``'s decoder on an export; see the module docstring.

    ``base_model`` None is the current default model. ``library`` (a Library or its
    location) is only used to count captions a newer model could rewrite.
    ``install=False`` never touches the default model, whatever the scores.
    """
    t0 = time.time()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    export_json = Path(export_json)
    if not 0.0 <= replay_share < 1.0:
        raise ValueError(f"replay_share must be in [0, 1), got {replay_share}")
    entries, records = _read_export(export_json)
    train_i = [i for i, e in enumerate(entries) if e.split == "train" and e.captions]
    train_e, val_e = [entries[i] for i in train_i], split_entries(entries, "val")
    if not train_e or not val_e:
        raise FileOperationError(
            export_json,
            f"needs photos in both the train and val splits "
            f"(found {len(train_e)} train, {len(val_e)} val); export more "
            "corrections or a larger val share",
        )
    base_path = Path(base_model) if base_model is not None else default_model_path()
    base = load_checkpoint(base_path)
    torch_device = resolve_device(device)
    cfg = base.config
    max_len = cfg.max_caption_len

    # vocabulary: new words of the training corrections, initialised from what they replaced
    counts: Counter[str] = Counter(w for e in train_e for c in e.captions for w in c)
    subs = substitutions(
        [(_model_tokens(records[i]), c) for i in train_i for c in entries[i].captions]
    )
    plans = plan_new_words(counts, base.vocab, subs, min_count=min_word_count) if grow_vocab else []
    state, vocab = grow_decoder_state(base.decoder_state, base.vocab, plans)
    new_cfg = replace(cfg, vocab_size=len(vocab))
    unknown = vocab.oov(counts)
    log(
        f"base {base.model_id}: vocabulary {len(base.vocab)} -> {len(vocab)} words"
        + (f"; new: {', '.join(p.describe() for p in plans)}" if plans else "")
    )
    if unknown:
        log(
            f"{len(unknown)} word(s) stay out of the vocabulary and train as <unk>: "
            f"{', '.join(unknown[:20])}"
        )

    # features of the frozen encoder, cached on disk
    encoder, base_decoder = build_modules(base)
    encoder.to(torch_device).eval()
    base_decoder.to(torch_device).eval()
    cache = Path(cache_dir) if cache_dir else default_cache_dir() / "features"
    kw: dict[str, Any] = dict(
        batch_size=batch_size, workers=workers, device=torch_device, progress=progress
    )
    preset = base.preprocess
    va_feats = cached_features(encoder, preset, [e.path for e in val_e], cache, **kw)

    # training pairs: every correction's caption, plus the replay share
    corr_caps = [c for e in train_e for c in e.captions]
    corr_rows = [i for i, e in enumerate(train_e) for _ in e.captions]
    rep_photos: list[ImageEntry] = []
    rep_rows: list[int] = []
    rep_caps: list[tuple[str, ...]] = []
    rep_val: list[ImageEntry] = []
    if replay is not None and replay_share > 0:
        rep_all = load_karpathy(replay, replay_images)
        n_rep = round(len(corr_caps) * replay_share / (1.0 - replay_share))
        rep_photos, rep_rows, rep_caps = _replay_pairs(split_entries(rep_all, "train"), n_rep, seed)
        rep_val = split_entries(rep_all, "val")[:replay_val_limit]
        log(f"replay: {len(rep_caps)} pair(s) on {len(rep_photos)} photo(s) of {replay}")
    # one memory-mapped cache for the corrections and the replay photos: (N+R, P, E) float16
    feats = cached_features(encoder, preset, [e.path for e in [*train_e, *rep_photos]], cache, **kw)
    rows = torch.tensor(corr_rows + [len(train_e) + r for r in rep_rows])  # (M,)
    caps, lens = _encode(corr_caps + rep_caps, vocab, max_len)  # (M, L), (M,)

    before, hyps_before = score_split(
        base_decoder,
        va_feats,
        val_e,
        base.vocab,
        beam_size=beam_size,
        max_len=max_len,
        device=torch_device,
        new_words=[p.word for p in plans],
    )
    if plans and "new-word use" not in before:
        before["new-word use"] = 0.0
    rep_before = None
    rep_val_feats = None
    if rep_val:
        rep_val_feats = cached_features(encoder, preset, [e.path for e in rep_val], cache, **kw)
        rep_before, _ = score_split(
            base_decoder,
            rep_val_feats,
            rep_val,
            base.vocab,
            beam_size=beam_size,
            max_len=max_len,
            device=torch_device,
        )

    decoder = Decoder(new_cfg)
    decoder.load_state_dict(state)
    decoder.to(torch_device)
    params = [p for p in decoder.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        decoder.train()
        tot, n = 0.0, 0
        for flat in bucketed_batches(lens, batch_size, seed + epoch):
            batch = feats[rows[flat].numpy()].astype(np.float32)  # (B, P, E)
            f = torch.from_numpy(batch).to(torch_device)  # (B, P, E)
            width = int(lens[flat].max())
            c = caps[flat, :width].to(torch_device)  # (B, width)
            ln = lens[flat].to(torch_device)  # (B,)
            scores, alphas = decoder(f, c)  # (B, width-1, V), (B, width-1, P)
            loss, _ = caption_loss(scores, alphas, c, ln, alpha_c)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if grad_clip:
                nn.utils.clip_grad_value_(params, grad_clip)
            opt.step()
            tot += float(loss.detach()) * len(c)
            n += len(c)
        history.append({"epoch": epoch, "loss": tot / max(1, n)})
        log(f"epoch {epoch:3d} loss {tot / max(1, n):.4f}")

    plan_words = [p.word for p in plans]
    after, hyps_after = score_split(
        decoder,
        va_feats,
        val_e,
        vocab,
        beam_size=beam_size,
        max_len=max_len,
        device=torch_device,
        new_words=plan_words,
    )
    if plans and "new-word use" not in after:
        after["new-word use"] = 0.0
    rep_after = None
    if rep_val and rep_val_feats is not None:
        rep_after, _ = score_split(
            decoder,
            rep_val_feats,
            rep_val,
            vocab,
            beam_size=beam_size,
            max_len=max_len,
            device=torch_device,
        )
    better = is_better(before, after)

    ckpt = Checkpoint(
        config=new_cfg,
        vocab=vocab,
        preprocess=preset,
        decoder_state={k: v.detach().cpu() for k, v in decoder.state_dict().items()},
        encoder_state=base.encoder_state,
        name=name or base.name,
        metrics={
            "corrections_val": after,
            "corrections_val_base": before,
            "val_beam_size": beam_size,
        },
        training={
            "finetune": {
                "base": base.model_id,
                "base_path": str(base_path),
                "export": str(export_json),
                "train_photos": len(train_e),
                "val_photos": len(val_e),
                "train_pairs": len(corr_caps),
                "replay": str(replay) if replay else None,
                "replay_pairs": len(rep_caps),
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "seed": seed,
                "new_words": [asdict(p) for p in plans],
                "history": history,
                "seconds": time.time() - t0,
            },
            "base_training": base.training.get("config", {}),
        },
    )
    out = Path(out)
    save_checkpoint(ckpt, out)
    settings = None
    installed = install and (better or force)
    if installed:
        settings = set_default_model(out)
    examples = [
        {
            "photo": e.key,
            "reference": (e.raw or (" ".join(e.captions[0]),))[0],
            "before": b,
            "after": a,
        }
        for e, b, a in list(zip(val_e, hyps_before, hyps_after, strict=True))[:5]
    ]
    older = None
    if library is not None:
        older = older_model_captions(library, ckpt)
    result = FinetuneResult(
        out=out,
        model_id=ckpt.model_id,
        base_model_id=base.model_id,
        before=before,
        after=after,
        new_words=plans,
        better=better,
        installed=installed,
        settings=settings,
        replay_before=rep_before,
        replay_after=rep_after,
        train_pairs=len(corr_caps),
        replay_pairs=len(rep_caps),
        history=history,
        examples=examples,
        older_captions=older,
    )
    for ex in examples:
        log(
            f'  {Path(ex["photo"]).name}: "{ex["before"]}" -> "{ex["after"]}" '
            f'(corrected: "{ex["reference"]}")'
        )
    for line in result.lines():
        log(line)
    return result
