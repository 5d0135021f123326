"""Train a Show-Attend-Tell captioner with teacher forcing; select by validation BLEU-4.

Stage 1 (default) freezes the encoder and trains the decoder on cached features.
Stage 2 (``fine_tune_encoder``) starts from a stage-1 checkpoint (``init``/``resume``)
and also trains the encoder's last blocks at a smaller learning rate, on photos
decoded once and kept in memory as uint8. Every epoch writes ``OUT.last.safetensors``
(+ optimiser state) for resuming; the best epoch by validation BLEU-4 (beam search,
not teacher forcing) is written to ``OUT``.
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from annotator.core.settings import DEFAULT_BEAM_SIZE, DEFAULT_LENGTH_PENALTY
from annotator.core.settings import cache_dir as default_cache_dir
from annotator.model.beam import Repetition, beam_search
from annotator.model.captioner import build_modules, resolve_device
from annotator.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from annotator.model.config import ModelConfig
from annotator.model.decoder import Decoder
from annotator.model.encoder import Encoder
from annotator.model.preprocess import RESAMPLE, Preprocess, load_rgb
from annotator.model.vocab import Vocab
from annotator.train.dataset import (
    ImageEntry,
    build_vocab,
    encode_captions,
    load_karpathy,
    references,
    split_entries,
)
from annotator.train.features import cached_features
from annotator.train.metrics import bleu4

Log = Callable[[str], None]


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in the checkpoint's training record."""

    dataset: str
    out: str
    images: str | None = None
    encoder: str = "efficientnet-lite2"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 4e-4
    encoder_lr: float = 1e-4
    fine_tune_encoder: bool = False
    fine_tune_stages: int = 3
    grad_clip: float = 5.0
    alpha_c: float = 1.0  # doubly stochastic attention regularisation
    embed_dim: int = 512
    attention_dim: int = 512
    decoder_dim: int = 512
    dropout: float = 0.5
    min_word_freq: int = 5
    max_len: int = 50
    captions_per_image: int = 5
    patience: int = 6  # epochs without val BLEU-4 improvement before stopping
    lr_patience: int = 2  # epochs without improvement before decaying the learning rate
    lr_factor: float = 0.5
    val_beam_size: int = DEFAULT_BEAM_SIZE
    val_limit: int | None = None  # validate on the first N val photos only
    train_limit: int | None = None  # train on the first N train photos only (smoke runs)
    device: str = "auto"
    workers: int = 2
    cache_dir: str | None = None
    resume: str | None = None  # a *.last.safetensors to continue
    init: str | None = None  # start weights (and vocabulary) from this checkpoint
    embeddings: str | None = None  # GloVe-format text file
    freeze_embeddings: bool = False
    seed: int = 0
    time_limit: float | None = None  # stop after the epoch that passes this many minutes
    name: str = "captioner"
    progress: bool = True
    plot: bool = True
    extra_train: list[str] = field(default_factory=list)  # more Karpathy JSONs (train split)


@dataclass
class EpochRecord:
    """One line of the training history."""

    epoch: int
    stage: str
    train_loss: float
    train_ce: float
    val_bleu4: float
    lr: float
    seconds: float


def caption_loss(
    scores: torch.Tensor,
    alphas: torch.Tensor,
    captions: torch.Tensor,
    lengths: torch.Tensor,
    alpha_c: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (total loss, cross-entropy) over real tokens only.

    scores (B, L-1, V) predict ``captions[:, 1:]`` (B, L-1); positions at or after a
    caption's length are padding and excluded, from the cross-entropy and from the
    attention regulariser ``alpha_c * mean((1 - sum_t alpha_t)^2)``.
    """
    targets = captions[:, 1:]  # (B, L-1)
    steps = torch.arange(targets.size(1), device=targets.device)  # (L-1,)
    mask = steps.unsqueeze(0) < (lengths - 1).unsqueeze(1)  # (B, L-1) real tokens
    ce = nn.functional.cross_entropy(scores[mask], targets[mask])  # over real tokens
    att_sum = (alphas * mask.unsqueeze(2)).sum(dim=1)  # (B, P)
    reg = alpha_c * ((1.0 - att_sum) ** 2).mean()
    return ce + reg, ce


def load_glove(path: str | Path, vocab: Vocab, dim: int, seed: int = 0) -> tuple[torch.Tensor, int]:
    """Return (V, dim) embeddings from a GloVe text file and how many words it covered."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.empty(len(vocab), dim).uniform_(-0.1, 0.1, generator=gen)
    found = 0
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip().split(" ")
            if len(parts) != dim + 1:
                if len(parts) > 2 and found == 0 and len(parts) - 1 != dim:
                    raise ValueError(
                        f"{path}: vectors have {len(parts) - 1} dimensions, "
                        f"the model's embed_dim is {dim}"
                    )
                continue
            idx = vocab.stoi.get(parts[0])
            if idx is not None:
                weights[idx] = torch.tensor([float(x) for x in parts[1:]])
                found += 1
    return weights, found


def bucketed_batches(
    lengths: torch.Tensor, batch_size: int, seed: int, bucket: int = 50
) -> list[torch.Tensor]:
    """Return shuffled batches of flat (photo * cpi + caption) indices of similar length.

    Indices are shuffled, cut into groups of ``bucket`` batches, sorted by caption
    length inside each group and batched; batch order is shuffled again. Padding,
    which the decoder still computes, drops to a few tokens per batch.
    """
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(lengths.numel(), generator=gen)  # (N,)
    batches: list[torch.Tensor] = []
    span = batch_size * bucket
    for lo in range(0, perm.numel(), span):
        chunk = perm[lo : lo + span]
        chunk = chunk[lengths[chunk].argsort(stable=True)]
        batches.extend(torch.split(chunk, batch_size))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


def _decode_uint8(entries: list[ImageEntry], preset: Preprocess, workers: int) -> torch.Tensor:
    """Decode photos once to a uint8 tensor (N, 3, S, S) for encoder fine-tuning."""
    from concurrent.futures import ThreadPoolExecutor

    s = preset.image_size
    out = torch.empty((len(entries), 3, s, s), dtype=torch.uint8)

    def one(i: int) -> None:
        rgb, _, _ = load_rgb(entries[i].path, s, preset.max_pixels, preset.background)
        rgb = rgb.resize((s, s), RESAMPLE[preset.resample])
        out[i] = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(one, range(len(entries))))
    return out


def _normalise(batch_u8: torch.Tensor, preset: Preprocess) -> torch.Tensor:
    mean = torch.tensor(preset.mean, device=batch_u8.device).view(1, 3, 1, 1)
    std = torch.tensor(preset.std, device=batch_u8.device).view(1, 3, 1, 1)
    return (batch_u8.float() / 255.0 - mean) / std  # (B, 3, S, S)


@torch.inference_mode()
def decode_split(
    decoder: Decoder,
    features: Callable[[int, int], torch.Tensor],
    n: int,
    vocab: Vocab,
    *,
    beam_size: int,
    max_len: int,
    device: torch.device,
    batch_size: int = 128,
    repetition: Repetition | None = None,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
) -> list[str]:
    """Beam-decode ``n`` photos whose features come from ``features(lo, hi)``."""
    decoder.eval()
    out: list[str] = []
    for lo in range(0, n, batch_size):
        feats = features(lo, min(n, lo + batch_size)).to(device)  # (b, P, E)
        hyps = beam_search(
            decoder,
            feats,
            beam_size=beam_size,
            start=vocab.start,
            end=vocab.end,
            max_len=max_len,
            min_len=1,
            banned=vocab.never_generated(),
            repetition=repetition,
            length_penalty=length_penalty,
        )
        out.extend(" ".join(vocab.decode(h[0].tokens)) for h in hyps)
    return out


def _optimiser_state(
    opt: torch.optim.Optimizer, params: list[nn.Parameter]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{i}.{k}"] = v.detach().cpu().contiguous()
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return tensors, {"groups": groups}


def _restore_optimiser(
    opt: torch.optim.Optimizer,
    params: list[nn.Parameter],
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    for i, p in enumerate(params):
        st = {
            k.split(".", 1)[1]: v.to(p.device)
            for k, v in tensors.items()
            if k.split(".", 1)[0] == str(i)
        }
        if st:
            if "step" in st:
                st["step"] = st["step"].cpu()
            opt.state[p] = st
    for g, saved in zip(opt.param_groups, meta.get("groups", []), strict=False):
        g.update({k: v for k, v in saved.items() if k in g})


def plot_history(history: list[EpochRecord], path: Path) -> None:
    """Write a PNG of training loss and validation BLEU-4 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.epoch for h in history]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(epochs, [h.train_loss for h in history], "o-", color="tab:blue", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h.val_bleu4 for h in history], "s-", color="tab:red", label="val BLEU-4")
    ax2.set_ylabel("validation BLEU-4 (beam search)", color="tab:red")
    fig.suptitle("annotator training history")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _paths(out: Path) -> tuple[Path, Path, Path]:
    stem = out.with_suffix("")
    return (
        stem.with_name(stem.name + ".last.safetensors"),
        stem.with_name(stem.name + ".last.state.safetensors"),
        stem.with_name(stem.name + ".history.png"),
    )


def seeded_splits(
    seed: int,
    dataset: str | Path,
    images: str | Path | None,
    extra_train: Sequence[str | Path] = (),
    val_limit: int | None = None,
) -> tuple[list[ImageEntry], list[ImageEntry]]:
    """Seed Python, NumPy and torch, then load the train and val photos of a Karpathy JSON.

    ``extra_train`` adds the train split of more JSONs. Raise ValueError naming the
    dataset when either split is empty.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    entries = load_karpathy(dataset, images)
    for extra in extra_train:
        entries += [e for e in load_karpathy(extra) if e.split == "train"]
    train_e = split_entries(entries, "train")
    val_e = split_entries(entries, "val")[:val_limit]
    if not train_e or not val_e:
        raise ValueError(
            f"{dataset}: needs photos in both the train and val splits "
            f"(found {len(train_e)} train, {len(val_e)} val)"
        )
    return train_e, val_e


def train(cfg: TrainConfig, log: Log = print) -> dict[str, Any]:
    """Run training as configured and return a summary (best BLEU-4, paths, history)."""
    from safetensors.torch import load_file, save_file
    from tqdm import tqdm

    t_start = time.time()
    train_all, val_e = seeded_splits(
        cfg.seed, cfg.dataset, cfg.images, cfg.extra_train, cfg.val_limit
    )
    train_e = train_all[: cfg.train_limit]
    device = resolve_device(cfg.device)
    out = Path(cfg.out)
    last_path, state_path, plot_path = _paths(out)

    start_ckpt: Checkpoint | None = None
    history: list[EpochRecord] = []
    first_epoch, best_bleu, since_best = 1, -1.0, 0
    if cfg.resume:
        start_ckpt = load_checkpoint(cfg.resume)
        tr = start_ckpt.training
        history = [EpochRecord(**h) for h in tr.get("history", [])]
        first_epoch = int(tr.get("epoch", 0)) + 1
        best_bleu = float(tr.get("best_bleu4", -1.0))
        since_best = int(tr.get("epochs_since_improvement", 0))
    elif cfg.init:
        start_ckpt = load_checkpoint(cfg.init)

    if start_ckpt is not None:
        vocab, mcfg = start_ckpt.vocab, start_ckpt.config
        preset = start_ckpt.preprocess
        encoder, decoder = build_modules(start_ckpt)
    else:
        vocab = build_vocab(train_e, cfg.min_word_freq)
        mcfg = ModelConfig.for_encoder(
            len(vocab),
            cfg.encoder,
            embed_dim=cfg.embed_dim,
            attention_dim=cfg.attention_dim,
            decoder_dim=cfg.decoder_dim,
            dropout=cfg.dropout,
            max_caption_len=cfg.max_len,
        )
        preset = Preprocess.for_encoder(cfg.encoder)
        encoder, decoder = Encoder(cfg.encoder, pretrained=True), Decoder(mcfg)
        if cfg.embeddings:
            w, found = load_glove(cfg.embeddings, vocab, mcfg.embed_dim, cfg.seed)
            decoder.load_embeddings(w, trainable=not cfg.freeze_embeddings)
            log(f"embeddings: {found}/{len(vocab)} words found in {cfg.embeddings}")
    encoder.set_fine_tune(cfg.fine_tune_stages if cfg.fine_tune_encoder else 0)
    encoder.to(device)
    decoder.to(device)
    log(
        f"data: {len(train_e)} train / {len(val_e)} val photos; vocabulary {len(vocab)} words; "
        f"encoder {mcfg.encoder} grid {encoder.grid}; device {device}"
    )

    caps, lens = encode_captions(
        train_e,
        vocab,
        captions_per_image=cfg.captions_per_image,
        max_len=cfg.max_len,
        seed=cfg.seed,
    )
    refs = references(val_e)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir() / "features"

    fine = cfg.fine_tune_encoder
    if fine:
        log("decoding photos for encoder fine-tuning ...")
        train_u8 = _decode_uint8(train_e, preset, cfg.workers)  # (N, 3, S, S)
        val_u8 = _decode_uint8(val_e, preset, cfg.workers)
        if device.type == "cuda":  # a few GB: keep the photos on the GPU
            train_u8, val_u8 = train_u8.to(device), val_u8.to(device)

        def train_feats(idx: torch.Tensor) -> torch.Tensor:
            feats: torch.Tensor = encoder(_normalise(train_u8[idx].to(device), preset))  # (B, P, E)
            return feats

        def val_feats(lo: int, hi: int) -> torch.Tensor:
            with torch.inference_mode():
                feats: torch.Tensor = encoder.eval()(_normalise(val_u8[lo:hi].to(device), preset))
                return feats  # (B, P, E)
    else:
        kw = dict(
            batch_size=cfg.batch_size, workers=cfg.workers, device=device, progress=cfg.progress
        )
        tr_np = cached_features(encoder, preset, [e.path for e in train_e], cache, **kw)
        va_np = cached_features(encoder, preset, [e.path for e in val_e], cache, **kw)
        on_gpu = device.type == "cuda"
        tr_t = torch.from_numpy(np.ascontiguousarray(tr_np)) if on_gpu else None
        tr_t = tr_t.to(device) if tr_t is not None else None  # whole cache on the GPU

        def train_feats(idx: torch.Tensor) -> torch.Tensor:
            if tr_t is not None:
                return tr_t[idx.to(device)].float()
            return torch.from_numpy(tr_np[idx.numpy()].astype(np.float32)).to(device)

        def val_feats(lo: int, hi: int) -> torch.Tensor:
            return torch.from_numpy(va_np[lo:hi].astype(np.float32))

    dec_params = [p for p in decoder.parameters() if p.requires_grad]
    enc_params = [p for p in encoder.parameters() if p.requires_grad] if fine else []
    groups: list[dict[str, Any]] = [{"params": dec_params, "lr": cfg.lr}]
    if enc_params:
        groups.append({"params": enc_params, "lr": cfg.encoder_lr})
    opt = torch.optim.Adam(groups)
    all_params = dec_params + enc_params
    if cfg.resume and state_path.exists() and Path(cfg.resume).resolve() == last_path.resolve():
        st_t = load_file(str(state_path))
        from safetensors import safe_open

        with safe_open(str(state_path), framework="pt") as f:
            st_meta = json.loads((f.metadata() or {}).get("optimizer", "{}"))
        _restore_optimiser(opt, all_params, st_t, st_meta)
        log(f"resumed from epoch {first_epoch - 1} (best val BLEU-4 {best_bleu:.2f})")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience
    )

    stage = "fine-tune" if fine else "decoder"
    training_meta = {"config": asdict(cfg), "hardware": _hardware(device)}

    def make_ckpt(epoch: int, bleu: float) -> Checkpoint:
        return Checkpoint(
            config=mcfg,
            vocab=vocab,
            preprocess=preset,
            decoder_state=decoder.state_dict(),
            encoder_state=encoder.state_dict()
            if (fine or (start_ckpt is not None and start_ckpt.encoder_state))
            else None,
            name=cfg.name,
            metrics={"val_bleu4": bleu, "val_beam_size": cfg.val_beam_size},
            training={
                **training_meta,
                "epoch": epoch,
                "best_bleu4": max(best_bleu, bleu),
                "epochs_since_improvement": since_best,
                "history": [asdict(h) for h in history],
                "seconds": time.time() - t_start,
            },
        )

    for epoch in range(first_epoch, cfg.epochs + 1):
        t0 = time.time()
        decoder.train()
        encoder.train(fine)
        tot, tot_ce, n = 0.0, 0.0, 0
        batches = bucketed_batches(lens.view(-1), cfg.batch_size, cfg.seed + epoch)
        bar = tqdm(
            batches, disable=not cfg.progress, desc=f"epoch {epoch}", unit="batch", leave=False
        )
        for flat in bar:
            img_idx, cap_idx = flat // cfg.captions_per_image, flat % cfg.captions_per_image
            feats = train_feats(img_idx)  # (B, P, E)
            c = caps[img_idx, cap_idx]  # (B, L)
            ln = lens[img_idx, cap_idx]  # (B,)
            width = int(ln.max())
            c, ln = c[:, :width].to(device), ln.to(device)
            scores, alphas = decoder(feats, c)  # (B, width-1, V), (B, width-1, P)
            loss, ce = caption_loss(scores, alphas, c, ln, cfg.alpha_c)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if cfg.grad_clip:
                nn.utils.clip_grad_value_(all_params, cfg.grad_clip)
            opt.step()
            tot += float(loss.detach()) * len(c)
            tot_ce += float(ce.detach()) * len(c)
            n += len(c)
            bar.set_postfix(loss=f"{tot / n:.3f}")
        hyps = decode_split(
            decoder,
            val_feats,
            len(val_e),
            vocab,
            beam_size=cfg.val_beam_size,
            max_len=cfg.max_len,
            device=device,
        )
        bleu = bleu4({str(i): h for i, h in enumerate(hyps)}, refs)
        lr_now = opt.param_groups[0]["lr"]
        history.append(
            EpochRecord(epoch, stage, tot / n, tot_ce / n, bleu, lr_now, time.time() - t0)
        )
        improved = bleu > best_bleu
        since_best = 0 if improved else since_best + 1
        distinct = len(set(hyps)) / max(1, len(hyps))
        log(
            f"epoch {epoch:3d} [{stage}] loss {tot / n:.4f} (ce {tot_ce / n:.4f}) "
            f"val BLEU-4 {bleu:.2f}{' *' if improved else ''} distinct {distinct:.0%} "
            f'lr {lr_now:.2e} {time.time() - t0:.0f}s  e.g. "{hyps[0]}"'
        )
        ckpt = make_ckpt(epoch, bleu)
        if improved:
            best_bleu = bleu
            ckpt.training["best_bleu4"] = bleu
            save_checkpoint(ckpt, out)
        save_checkpoint(ckpt, last_path)
        ot, om = _optimiser_state(opt, all_params)
        save_file(ot, str(state_path), metadata={"optimizer": json.dumps(om)})
        if cfg.plot:
            plot_history(history, plot_path)
        sched.step(bleu)
        if since_best >= cfg.patience:
            log(f"early stop: no val BLEU-4 improvement for {cfg.patience} epochs")
            break
        if cfg.time_limit and time.time() - t_start > 60 * cfg.time_limit:
            log(f"stopping: time limit of {cfg.time_limit} minutes reached")
            break
    return {
        "best_val_bleu4": best_bleu,
        "best": str(out),
        "last": str(last_path),
        "plot": str(plot_path) if cfg.plot else None,
        "history": [asdict(h) for h in history],
        "seconds": time.time() - t_start,
    }


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA), torch {torch.__version__}"
    return (
        f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} "
        f"threads, torch {torch.__version__}"
    )
