"""``annotator train`` and ``annotator evaluate``: build and measure captioners."""

from __future__ import annotations

import argparse
import json
import os
import sys

from annotator.cli._common import add_device, add_model, user_settings
from annotator.core.settings import DEFAULT_LENGTH_PENALTY


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``train`` and ``evaluate`` subcommands."""
    p = sub.add_parser(
        "train",
        help="train a captioner on a Karpathy-format dataset",
        description="Train a Show-Attend-Tell captioner. Features of a frozen "
        "encoder are cached on disk; every epoch is checkpointed.",
    )
    p.add_argument(
        "--dataset",
        required=True,
        metavar="JSON",
        help="Karpathy-format dataset JSON (Flickr8k/30k, COCO or an annotator export)",
    )
    p.add_argument("--images", metavar="DIR", help="image folder (default: the JSON's folder)")
    p.add_argument("--out", required=True, metavar="PATH", help="best checkpoint to write")
    p.add_argument(
        "--encoder", default="efficientnet-lite2", help="efficientnet-lite0/1/2 or resnet50/101/152"
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument(
        "--batch-size",
        type=int,
        help="captions per batch (default 64); with --scst photos per step (default 16)",
    )
    p.add_argument(
        "--lr", type=float, help="decoder learning rate (default 4e-4; with --scst 5e-5)"
    )
    p.add_argument("--encoder-lr", type=float, default=1e-4)
    p.add_argument(
        "--fine-tune-encoder",
        action="store_true",
        help="also train the encoder's last blocks (stage 2; use with --init)",
    )
    p.add_argument(
        "--fine-tune-stages",
        type=int,
        default=3,
        help="how many final encoder blocks to train (default 3)",
    )
    p.add_argument("--init", metavar="CKPT", help="start from this checkpoint's weights")
    p.add_argument(
        "--scst",
        action="store_true",
        help="self-critical training (CIDEr-D reward) from the --init checkpoint",
    )
    p.add_argument("--samples", type=int, default=5, help="with --scst: captions per photo")
    p.add_argument(
        "--baseline",
        choices=["mean", "greedy"],
        default="mean",
        help="with --scst: mean reward of the other samples (default) or the greedy caption's",
    )
    p.add_argument(
        "--ce-weight",
        type=float,
        default=0.0,
        help="with --scst: add this weight times the cross-entropy of a reference caption "
        "(mixed objective; default 0, pure self-critical)",
    )
    p.add_argument(
        "--photos-per-epoch",
        type=int,
        help="with --scst: photos per (checkpointed, validated) epoch; default all",
    )
    p.add_argument(
        "--sample-max-len", type=int, default=20, help="with --scst: longest sampled caption"
    )
    p.add_argument(
        "--train-limit",
        type=int,
        help="with --scst: train on the first N train photos only (default all)",
    )
    p.add_argument(
        "--val-limit", type=int, help="validate on the first N val photos only (default all)"
    )
    p.add_argument("--resume", metavar="CKPT", help="continue from OUT.last.safetensors")
    p.add_argument("--embeddings", metavar="GLOVE", help="pretrained word vectors (GloVe text)")
    p.add_argument("--min-word-freq", type=int, default=5)
    p.add_argument("--max-len", type=int, default=50, help="longest training caption (words)")
    p.add_argument("--captions-per-image", type=int, default=5)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument(
        "--patience",
        type=int,
        default=6,
        help="stop after this many epochs without a val BLEU-4 gain",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="MINUTES",
        help="stop after the epoch that passes this many minutes",
    )
    p.add_argument("--workers", type=int, default=2, help="photo-decoding processes")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache folder")
    p.add_argument("--name", default=None, help="model name recorded in the checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device(p)
    p.set_defaults(func=run_train)

    e = sub.add_parser(
        "evaluate",
        help="score a captioner on a dataset split",
        description="Caption a split at several beam sizes and print BLEU-1..4, "
        "METEOR, ROUGE-L and CIDEr-D (coco-caption).",
    )
    add_model(e)
    e.add_argument("--dataset", required=True, metavar="JSON")
    e.add_argument("--images", metavar="DIR")
    e.add_argument("--split", default="test")
    e.add_argument("--beam-sizes", type=int, nargs="+", default=[1, 3, 5])
    e.add_argument("--limit", type=int, help="only the first N photos of the split")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--cache-dir", metavar="DIR")
    e.add_argument("--no-meteor", action="store_true", help="skip METEOR (slow, needs Java)")
    e.add_argument(
        "--no-repetition-control",
        action="store_true",
        help="decode without the captioner's repetition control (for comparison)",
    )
    e.add_argument(
        "--length-penalty",
        type=float,
        default=DEFAULT_LENGTH_PENALTY,
        help=f"rank by score / length**P (default {DEFAULT_LENGTH_PENALTY}, as the captioner)",
    )
    e.add_argument("--json", action="store_true", help="print JSON")
    add_device(e)
    e.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    """Run ``annotator train``."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from pathlib import Path

    if args.scst:
        return _run_scst(args)
    from annotator.train.loop import TrainConfig, train

    cfg = TrainConfig(
        dataset=args.dataset,
        images=args.images,
        out=args.out,
        encoder=args.encoder,
        epochs=args.epochs,
        batch_size=args.batch_size or 64,
        lr=args.lr if args.lr is not None else 4e-4,
        encoder_lr=args.encoder_lr,
        fine_tune_encoder=args.fine_tune_encoder,
        fine_tune_stages=args.fine_tune_stages,
        init=args.init,
        resume=args.resume,
        embeddings=args.embeddings,
        min_word_freq=args.min_word_freq,
        max_len=args.max_len,
        captions_per_image=args.captions_per_image,
        dropout=args.dropout,
        patience=args.patience,
        time_limit=args.time_limit,
        workers=args.workers,
        cache_dir=args.cache_dir,
        device=user_settings(args).device,
        seed=args.seed,
        name=args.name or Path(args.out).stem,
        progress=not args.no_progress,
        val_limit=args.val_limit,
    )
    result = train(cfg, log=lambda m: print(m, flush=True))
    print(
        f"best val BLEU-4 {result['best_val_bleu4']:.2f} -> {result['best']} "
        f"(plot {result['plot']}, {result['seconds'] / 60:.1f} min)"
    )
    return 0


def _run_scst(args: argparse.Namespace) -> int:
    """Run ``annotator train --scst``."""
    from pathlib import Path

    from annotator.train.scst import ScstConfig, train_scst

    if not args.init and not args.resume:
        print("annotator train --scst: pass --init CKPT (a trained model)", file=sys.stderr)
        return 2
    cfg = ScstConfig(
        dataset=args.dataset,
        out=args.out,
        init=args.init,
        resume=args.resume,
        images=args.images,
        epochs=args.epochs,
        lr=args.lr if args.lr is not None else 5e-5,
        samples=args.samples,
        batch_size=args.batch_size or 16,
        photos_per_epoch=args.photos_per_epoch,
        sample_max_len=args.sample_max_len,
        baseline=args.baseline,
        ce_weight=args.ce_weight,
        val_limit=args.val_limit,
        train_limit=args.train_limit,
        device=user_settings(args).device,
        workers=args.workers,
        cache_dir=args.cache_dir,
        seed=args.seed,
        time_limit=args.time_limit,
        name=args.name or Path(args.out).stem,
        progress=not args.no_progress,
    )
    result = train_scst(cfg, log=lambda m: print(m, flush=True))
    print(
        f"best val CIDEr-D {result['best_val_cider_d']:.2f} -> {result['best']} "
        f"({result['seconds'] / 60:.1f} min)"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``annotator evaluate``."""
    from annotator.train.evaluate import evaluate, format_table

    res = evaluate(
        args.model,
        args.dataset,
        args.images,
        split=args.split,
        beam_sizes=args.beam_sizes,
        device=user_settings(args).device,
        limit=args.limit,
        batch_size=args.batch_size,
        workers=args.workers,
        cache_dir=args.cache_dir,
        meteor=not args.no_meteor,
        progress=not args.json and sys.stderr.isatty(),
        repetition=not args.no_repetition_control,
        length_penalty=args.length_penalty,
    )
    print(json.dumps(res, indent=2) if args.json else format_table(res))
    return 0
