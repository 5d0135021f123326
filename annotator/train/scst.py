"""Self-critical sequence training (Rennie et al., 2017): optimise CIDEr-D directly.

A second stage after cross-entropy (``init`` is a trained checkpoint). For every training
photo the decoder samples ``samples`` captions; each caption's reward is its CIDEr-D
against that photo's references, with document frequencies computed once from the
training split (:class:`annotator.train.cider.CiderD`). The gradient is REINFORCE,
``-(reward - baseline) * log p(caption)`` averaged over tokens.

Baseline (default ``"mean"``): the mean reward of the *other* samples of the same photo
(Luo, 2020, "A better variant of self-critical sequence training"). It needs no extra
greedy decoding pass (on a CPU that pass costs a fifth of the sampling again), it does
not depend on the sample it judges (so the gradient stays unbiased), and it reported
slightly better CIDEr than the greedy baseline. ``"greedy"`` (the original
self-critical baseline: the reward of the arg-max caption) is available too.

Features come from the frozen encoder's float16 cache (:mod:`annotator.train.features`);
the run is on the CPU by default and on a GPU when present (``device="auto"``).
Every epoch (``photos_per_epoch`` photos; short epochs checkpoint more often) is
scored on validation CIDEr-D by real beam search and writes ``OUT.last.safetensors``
with the optimiser state beside it; the best epoch is written to ``OUT``. Resume with
``resume=OUT.last.safetensors``, as cross-entropy training does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from annotator.core.settings import cache_dir as default_cache_dir
from annotator.model.beam import Repetition
from annotator.model.captioner import build_modules, resolve_device
from annotator.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from annotator.model.decoder import Decoder
from annotator.model.vocab import tokenize
from annotator.train.cider import CiderD, cider_d
from annotator.train.dataset import encode_captions, references
from annotator.train.features import cached_features
from annotator.train.loop import (
    _hardware,
    _optimiser_state,
    _paths,
    _restore_optimiser,
    caption_loss,
    decode_split,
    seeded_splits,
)
from annotator.train.metrics import bleu4

Log = Callable[[str], None]
BASELINES = ("mean", "greedy")


@dataclass
class ScstConfig:
    """Everything a self-critical run needs; stored in the checkpoint's training record."""

    dataset: str
    out: str
    init: str | None = None  # a cross-entropy checkpoint (required unless resuming)
    resume: str | None = None  # a *.last.safetensors of a self-critical run
    images: str | None = None
    epochs: int = 10
    lr: float = 5e-5
    samples: int = 5  # captions sampled per photo
    batch_size: int = 16  # photos per step
    photos_per_epoch: int | None = None  # None: the whole training split
    sample_max_len: int = 20  # longest sampled caption (words)
    baseline: str = "mean"  # "mean" of the other samples, or "greedy"
    # weight of a cross-entropy term on one reference caption per photo (mixed objective,
    # Paulus et al. 2017): keeps the vocabulary and fluency of the start; 0 is pure SCST
    ce_weight: float = 0.0
    grad_clip: float = 5.0
    val_beam_size: int = 3
    val_limit: int | None = None
    # train on the first N train photos; document frequencies still come from all of them
    train_limit: int | None = None
    device: str = "auto"
    workers: int = 2
    cache_dir: str | None = None
    seed: int = 0
    time_limit: float | None = None  # stop after the epoch that passes this many minutes
    name: str = "captioner-scst"
    progress: bool = True


@dataclass
class ScstEpoch:
    """One line of the self-critical history."""

    epoch: int
    photos: int
    mean_reward: float  # mean CIDEr-D x100 of the sampled training captions
    val_cider_d: float  # x100, beam search
    val_bleu4: float
    lr: float
    seconds: float


@dataclass
class Samples:
    """Captions sampled for a batch: token ids, their log-probabilities and a mask."""

    tokens: torch.Tensor  # (N, T) ids; positions after <end> hold <pad>
    logprobs: torch.Tensor  # (N, T) log p of each token (0 where masked)
    mask: torch.Tensor  # (N, T) True for real tokens, <end> included


def sample_captions(
    decoder: Decoder,
    feats: torch.Tensor,
    *,
    samples: int,
    start: int,
    end: int,
    pad: int,
    max_len: int,
    banned: Sequence[int] = (),
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Samples:
    """Sample ``samples`` captions per photo from features (B, P, E), or decode greedily.

    Rows ``i * samples .. (i + 1) * samples - 1`` belong to photo ``i``. Log-probabilities
    keep their graph when gradients are enabled. ``<end>`` is forbidden as first word.
    """
    b = feats.size(0)
    dev = feats.device
    enc = feats.repeat_interleave(samples, dim=0)  # (N, P, E)
    proj = decoder.attention.project(feats).repeat_interleave(samples, dim=0)  # (N, P, A)
    st = decoder.init_state(feats)
    state = type(st)(st.h.repeat_interleave(samples, 0), st.c.repeat_interleave(samples, 0))
    n = b * samples
    words = torch.full((n,), start, dtype=torch.long, device=dev)  # (N,)
    done = torch.zeros(n, dtype=torch.bool, device=dev)  # (N,)
    forbid = torch.zeros(decoder.config.vocab_size, dtype=torch.bool, device=dev)  # (V,)
    forbid[list(banned)] = True
    first = forbid.clone()
    first[end] = True
    toks, lps, masks = [], [], []
    for t in range(max_len):
        logits, _, state = decoder.step(words, state, enc, proj)  # (N, V)
        logits = logits.masked_fill(first if t == 0 else forbid, float("-inf"))  # (N, V)
        logp = torch.log_softmax(logits, dim=1)  # (N, V)
        if greedy:
            w = logp.detach().argmax(dim=1)  # (N,)
        else:
            w = torch.multinomial(logp.detach().exp(), 1, generator=generator).squeeze(1)  # (N,)
        live = ~done  # (N,)
        toks.append(torch.where(live, w, torch.full_like(w, pad)))
        lps.append(logp.gather(1, w.unsqueeze(1)).squeeze(1) * live)  # (N,)
        masks.append(live)
        done = done | (w == end)
        words = w
        if bool(done.all()):
            break
    return Samples(torch.stack(toks, 1), torch.stack(lps, 1), torch.stack(masks, 1))


def caption_words(tokens: torch.Tensor, itos: Sequence[str], end: int, pad: int) -> list[list[str]]:
    """Return the words of each row of token ids (N, T), without ``<end>`` and padding."""
    out: list[list[str]] = []
    for row in tokens.tolist():
        words: list[str] = []
        for i in row:
            if i in (end, pad):
                break
            words.append(itos[i])
        out.append(words)
    return out


def baseline_mean_of_others(rewards: torch.Tensor) -> torch.Tensor:
    """Return, for rewards (B, S), each sample's baseline: the mean of the other S-1."""
    s = rewards.size(1)
    if s < 2:
        raise ValueError("the mean-of-others baseline needs at least 2 samples per photo")
    return (rewards.sum(dim=1, keepdim=True) - rewards) / (s - 1)  # (B, S)


def scst_loss(samples: Samples, advantage: torch.Tensor) -> torch.Tensor:
    """Return REINFORCE's loss ``-advantage * log p`` averaged over real tokens.

    ``advantage`` (N,) is reward minus baseline for each sampled caption.
    """
    m = samples.mask.float()  # (N, T)
    return -(advantage.unsqueeze(1) * samples.logprobs * m).sum() / m.sum().clamp(min=1.0)


def epoch_photos(n: int, per_epoch: int, epoch: int, seed: int) -> np.ndarray:
    """Return the photo indices of ``epoch`` (1-based) in a stream of shuffled passes.

    Epochs of ``per_epoch`` photos walk through successive random permutations of the
    ``n`` photos (pass ``k`` shuffled with ``seed + k``), so short epochs still see every
    photo once per pass, and a resumed run sees the photos it would have seen.
    """
    lo, hi = (epoch - 1) * per_epoch, epoch * per_epoch
    out: list[np.ndarray] = []
    for k in range(lo // n, (hi - 1) // n + 1):
        perm = np.random.default_rng(seed + k).permutation(n)
        a, b = max(lo, k * n) - k * n, min(hi, (k + 1) * n) - k * n
        out.append(perm[a:b])
    return np.concatenate(out)


def validate(
    decoder: Decoder,
    val_feats: Callable[[int, int], torch.Tensor],
    refs: dict[str, list[str]],
    vocab: Any,
    *,
    beam_size: int,
    max_len: int,
    device: torch.device,
) -> tuple[float, float, list[str]]:
    """Beam-decode the validation photos; return (CIDEr-D x100, BLEU-4 x100, captions).

    Decoding uses repetition control, as the captioner does by default. Both metrics use
    annotator's tokeniser (no Java), the measure the training loop uses.
    """
    hyps = decode_split(
        decoder,
        val_feats,
        len(refs),
        vocab,
        beam_size=beam_size,
        max_len=max_len,
        device=device,
        repetition=Repetition.for_words(vocab.itos),  # decode as the shipped captioner does
    )
    hyp_map = {str(i): h for i, h in enumerate(hyps)}
    tok_refs = {k: [" ".join(tokenize(c)) for c in v] for k, v in refs.items()}
    tok_hyps = {k: " ".join(tokenize(h)) for k, h in hyp_map.items()}
    cider, _ = cider_d(tok_hyps, tok_refs)
    return 100.0 * cider, bleu4(hyp_map, refs), hyps


def train_scst(cfg: ScstConfig, log: Log = print) -> dict[str, Any]:
    """Run self-critical training as configured; return a summary (best, paths, history)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from tqdm import tqdm

    if cfg.baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, not {cfg.baseline!r}")
    if cfg.baseline == "mean" and cfg.samples < 2:
        raise ValueError("the mean-of-others baseline needs --samples of at least 2")
    if not cfg.init and not cfg.resume:
        raise ValueError("self-critical training starts from a trained model: pass --init CKPT")
    t_start = time.time()
    train_all, val_e = seeded_splits(cfg.seed, cfg.dataset, cfg.images, val_limit=cfg.val_limit)
    train_e = train_all[: cfg.train_limit]  # photos trained on; rewards use all of train
    device = resolve_device(cfg.device)
    out = Path(cfg.out)
    last_path, state_path, _ = _paths(out)

    history: list[ScstEpoch] = []
    first_epoch, best, seconds_before = 1, -1.0, 0.0
    if cfg.resume:
        ckpt = load_checkpoint(cfg.resume)
        tr = ckpt.training
        history = [ScstEpoch(**h) for h in tr.get("scst_history", [])]
        first_epoch = int(tr.get("scst_epoch", 0)) + 1
        best = float(tr.get("best_val_cider_d", -1.0))
        seconds_before = float(tr.get("scst_seconds", 0.0))
    else:
        ckpt = load_checkpoint(str(cfg.init))
    vocab, mcfg, preset = ckpt.vocab, ckpt.config, ckpt.preprocess
    encoder, decoder = build_modules(ckpt)
    encoder.to(device).eval()
    decoder.to(device)
    log(
        f"self-critical: {len(train_e)} train / {len(val_e)} val photos; vocabulary "
        f"{len(vocab)} words; {cfg.samples} samples per photo, baseline {cfg.baseline}; "
        f"device {device}"
    )

    t0 = time.time()
    scorer = CiderD([[list(c) for c in e.captions] for e in train_all])
    log(f"CIDEr-D reference vectors of {len(train_all)} photos in {time.time() - t0:.1f}s")
    refs = references(val_e)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir() / "features"
    kw = dict(batch_size=64, workers=cfg.workers, device=device, progress=cfg.progress)
    tr_np = cached_features(encoder, preset, [e.path for e in train_e], cache, **kw)
    va_np = cached_features(encoder, preset, [e.path for e in val_e], cache, **kw)
    tr_t = None
    if device.type == "cuda":  # the whole float16 cache on the GPU
        tr_t = torch.from_numpy(np.ascontiguousarray(tr_np)).to(device)

    def train_feats(idx: np.ndarray) -> torch.Tensor:
        if tr_t is not None:
            return tr_t[torch.from_numpy(idx).to(device)].float()  # (B, P, E)
        return torch.from_numpy(tr_np[np.sort(idx)].astype(np.float32)).to(device)

    def val_feats(lo: int, hi: int) -> torch.Tensor:
        return torch.from_numpy(va_np[lo:hi].astype(np.float32))  # (b, P, E)

    params = [p for p in decoder.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    if cfg.resume and state_path.exists() and Path(cfg.resume).resolve() == last_path.resolve():
        with safe_open(str(state_path), framework="pt") as f:
            st_meta = json.loads((f.metadata() or {}).get("optimizer", "{}"))
        _restore_optimiser(opt, params, load_file(str(state_path)), st_meta)
        log(f"resumed from epoch {first_epoch - 1} (best val CIDEr-D {best:.2f})")
    elif cfg.resume:
        log(
            f"resumed from epoch {first_epoch - 1} (best val CIDEr-D {best:.2f}); no optimiser "
            f"state at {state_path} for this checkpoint: Adam starts afresh"
        )

    if first_epoch == 1 and not history:  # the starting point, for the curve
        t0 = time.time()
        c0, b0, _ = validate(
            decoder,
            val_feats,
            refs,
            vocab,
            beam_size=cfg.val_beam_size,
            max_len=mcfg.max_caption_len,
            device=device,
        )
        history.append(ScstEpoch(0, 0, float("nan"), c0, b0, cfg.lr, time.time() - t0))
        best = c0
        log(f"epoch   0 [start] val CIDEr-D {c0:.2f} BLEU-4 {b0:.2f} ({time.time() - t0:.0f}s)")

    per_epoch = min(cfg.photos_per_epoch or len(train_e), len(train_e))
    if cfg.ce_weight:
        caps, lens = encode_captions(train_e, vocab, max_len=mcfg.max_caption_len, seed=cfg.seed)
    banned = vocab.never_generated()
    training_meta = {"scst_config": asdict(cfg), "hardware": _hardware(device)}
    start_training = dict(ckpt.training)

    def make_ckpt(epoch: int, cider: float, bleu: float) -> Checkpoint:
        return Checkpoint(
            config=mcfg,
            vocab=vocab,
            preprocess=preset,
            decoder_state=decoder.state_dict(),
            encoder_state=ckpt.encoder_state,
            name=cfg.name,
            metrics={
                "val_cider_d": cider,
                "val_bleu4": bleu,
                "val_beam_size": cfg.val_beam_size,
            },
            training={
                **start_training,
                **training_meta,
                "stage": "scst",
                "scst_epoch": epoch,
                "best_val_cider_d": max(best, cider),
                "scst_history": [asdict(h) for h in history],
                "scst_seconds": seconds_before + time.time() - t_start,
            },
        )

    for epoch in range(first_epoch, cfg.epochs + 1):
        t0 = time.time()
        gen = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + epoch)
        photos = epoch_photos(len(train_e), per_epoch, epoch, cfg.seed)
        batches = [photos[i : i + cfg.batch_size] for i in range(0, len(photos), cfg.batch_size)]
        tot_r, n_r = 0.0, 0
        bar = tqdm(
            batches, disable=not cfg.progress, desc=f"scst {epoch}", unit="batch", leave=False
        )
        for idx in bar:
            idx = np.sort(idx)
            feats = train_feats(idx)  # (B, P, E)
            decoder.eval()  # no dropout: the policy sampled is the one that ships
            smp = sample_captions(
                decoder,
                feats,
                samples=cfg.samples,
                start=vocab.start,
                end=vocab.end,
                pad=vocab.pad,
                max_len=cfg.sample_max_len,
                banned=banned,
                generator=gen,
            )
            photo_of = np.repeat(idx, cfg.samples)  # (N,)
            words = caption_words(smp.tokens, vocab.itos, vocab.end, vocab.pad)
            reward = torch.from_numpy(scorer.score(words, photo_of.tolist())).float()  # (N,)
            reward = reward.view(len(idx), cfg.samples)  # (B, S)
            if cfg.baseline == "mean":
                base = baseline_mean_of_others(reward)  # (B, S)
            else:
                with torch.no_grad():
                    g = sample_captions(
                        decoder,
                        feats,
                        samples=1,
                        start=vocab.start,
                        end=vocab.end,
                        pad=vocab.pad,
                        max_len=cfg.sample_max_len,
                        banned=banned,
                        greedy=True,
                    )
                g_words = caption_words(g.tokens, vocab.itos, vocab.end, vocab.pad)
                g_r = torch.from_numpy(scorer.score(g_words, idx.tolist())).float()  # (B,)
                base = g_r.unsqueeze(1).expand_as(reward)  # (B, S)
            adv = (reward - base).reshape(-1).to(device)  # (N,)
            loss = scst_loss(smp, adv)
            if cfg.ce_weight:
                which = torch.randint(0, caps.size(1), (len(idx),), generator=gen)  # (B,)
                rows = torch.from_numpy(idx)
                c, ln = caps[rows, which], lens[rows, which]  # (B, L), (B,)
                c, ln = c[:, : int(ln.max())].to(device), ln.to(device)
                scores, alphas = decoder(feats, c)  # (B, L-1, V), (B, L-1, P)
                _, ce = caption_loss(scores, alphas, c, ln, 0.0)
                loss = loss + cfg.ce_weight * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if cfg.grad_clip:
                nn.utils.clip_grad_value_(params, cfg.grad_clip)
            opt.step()
            tot_r += float(reward.sum())
            n_r += reward.numel()
            bar.set_postfix(reward=f"{tot_r / n_r:.3f}")
        train_s = time.time() - t0
        cider, bleu, hyps = validate(
            decoder,
            val_feats,
            refs,
            vocab,
            beam_size=cfg.val_beam_size,
            max_len=mcfg.max_caption_len,
            device=device,
        )
        history.append(
            ScstEpoch(epoch, len(photos), 100 * tot_r / n_r, cider, bleu, cfg.lr, time.time() - t0)
        )
        improved = cider > best
        log(
            f"epoch {epoch:3d} [scst] {len(photos)} photos, mean sample CIDEr-D "
            f"{100 * tot_r / n_r:.2f}; val CIDEr-D {cider:.2f}{' *' if improved else ''} "
            f"BLEU-4 {bleu:.2f} distinct {len(set(hyps)) / len(hyps):.0%}; "
            f"train {train_s:.0f}s, total {time.time() - t0:.0f}s; e.g. "
            f'"{hyps[0]}"'
        )
        ck = make_ckpt(epoch, cider, bleu)
        if improved:
            best = cider
            save_checkpoint(ck, out)
        save_checkpoint(ck, last_path)
        ot, om = _optimiser_state(opt, params)
        save_file(ot, str(state_path), metadata={"optimizer": json.dumps(om)})
        if cfg.time_limit and time.time() - t_start > 60 * cfg.time_limit:
            log(f"stopping: time limit of {cfg.time_limit} minutes reached")
            break
    return {
        "best_val_cider_d": best,
        "best": str(out) if out.exists() else None,
        "last": str(last_path),
        "history": [asdict(h) for h in history],
        "seconds": time.time() - t_start,
    }
