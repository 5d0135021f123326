"""``annotator finetune``: fine-tune the captioner on corrected captions (an export)."""

from __future__ import annotations

import argparse
import os
import sys

from annotator.cli._common import add_beam_size, add_device, add_library, user_settings
from annotator.cli.export import fraction


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``finetune`` subcommand."""
    p = sub.add_parser(
        "finetune",
        help="fine-tune the captioner on corrected captions (from `annotator export`)",
        description="Fine-tune the decoder of a captioner on a Karpathy export of corrected "
        "captions (the encoder stays frozen), growing the vocabulary for new words. Scores "
        "the base and the new model on the export's val split (BLEU-4, CIDEr-D) and "
        "installs the new model as the default only if it is better.",
    )
    p.add_argument(
        "--from",
        dest="export",
        required=True,
        metavar="EXPORT",
        help="dataset_annotator.json written by `annotator export --format "
        "karpathy` (or its folder)",
    )
    p.add_argument(
        "--base",
        default=None,
        metavar="MODEL",
        help="model to start from (default: the default model)",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="checkpoint to write")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=4e-4, help="decoder learning rate")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--no-grow-vocab",
        dest="grow_vocab",
        action="store_false",
        help="keep the base vocabulary (new words train as <unk>)",
    )
    p.add_argument(
        "--min-word-count",
        type=int,
        default=2,
        metavar="N",
        help="add a new word seen at least N times (default 2)",
    )
    p.add_argument(
        "--replay",
        metavar="JSON",
        help="Karpathy JSON of the original training data, mixed in to avoid forgetting",
    )
    p.add_argument(
        "--replay-images",
        metavar="DIR",
        help="image folder of --replay (default: the JSON's folder)",
    )
    p.add_argument(
        "--replay-share",
        type=fraction,
        default=0.5,
        metavar="FRACTION",
        help="share of training pairs drawn from --replay (default 0.5)",
    )
    add_beam_size(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="install the new model as the default even if it is not better",
    )
    p.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help="only write --out; never change the default model",
    )
    p.add_argument("--name", default=None, help="model name (default: the base model's)")
    add_library(p, "; used to count captions from older models")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache folder")
    p.add_argument("--workers", type=int, default=0, help="photo-decoding processes")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``annotator finetune``."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from pathlib import Path

    from annotator.core.errors import LibraryError
    from annotator.library import open_library
    from annotator.pipeline.export import KARPATHY_NAME
    from annotator.train.finetune import finetune

    settings = user_settings(args)
    export = Path(args.export)
    if export.is_dir():
        export = export / KARPATHY_NAME
    library = None
    try:  # only to count captions a re-caption would rewrite
        library = open_library(args.library, create=False)
    except LibraryError:
        if args.library is not None:
            raise
    try:
        result = finetune(
            export,
            args.base,
            args.out,
            grow_vocab=args.grow_vocab,
            min_word_count=args.min_word_count,
            replay=args.replay,
            replay_images=args.replay_images,
            replay_share=args.replay_share,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            beam_size=settings.beam_size,
            force=args.force,
            install=args.install,
            library=library,
            name=args.name,
            device=settings.device,
            cache_dir=args.cache_dir,
            workers=args.workers,
            seed=args.seed,
            progress=sys.stderr.isatty(),
            log=lambda m: print(m, flush=True),
        )
    finally:
        if library is not None:
            library.close()
    return 0 if result.out.exists() else 1
