"""``annotator export``: write the library's corrected captions as a training data set."""

from __future__ import annotations

import argparse

from annotator.cli._common import add_library


def fraction(text: str) -> float:
    """Parse a share in [0, 1) for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="export corrected captions as training data (Karpathy, JSON Lines, COCO, text)",
        description="Export the captions people wrote, corrected or accepted: a Karpathy "
        "dataset JSON with a train/val split by content hash (what `annotator train` and "
        "`annotator finetune` read; the model's original caption is kept beside each "
        "correction), a Hugging Face metadata.jsonl, COCO captions JSON, or one .txt per "
        "photo for diffusion-training tools. Prints counts and the words the model's "
        "vocabulary lacks.",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=("karpathy", "jsonl", "coco", "txt"),
        help="karpathy (dataset_annotator.json), jsonl (metadata.jsonl), coco "
        "(captions.json) or txt (one STEM.txt per photo)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--only-reviewed",
        action="store_true",
        help="only captions marked reviewed (leave out unreviewed human drafts)",
    )
    which.add_argument(
        "--all",
        dest="include_model",
        action="store_true",
        help="also unreviewed model captions (every photo with a caption)",
    )
    images = p.add_mutually_exclusive_group()
    images.add_argument(
        "--copy-images",
        dest="images",
        action="store_const",
        const="copy",
        help="copy the photos into DIR/images (collision-free names)",
    )
    images.add_argument(
        "--link-images",
        dest="images",
        action="store_const",
        const="link",
        help="link the photos into DIR/images (symbolic links)",
    )
    p.set_defaults(images="reference")
    p.add_argument(
        "--val-share",
        type=fraction,
        default=0.1,
        metavar="FRACTION",
        help="share of photos in the val split (karpathy; default 0.1)",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="model whose vocabulary the captions are checked against (default: the default model)",
    )
    add_library(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``annotator export``."""
    from annotator.pipeline.export import export

    kw = dict(
        only_reviewed=args.only_reviewed,
        include_model=args.include_model,
        images=args.images,
        model=args.model,
    )
    if args.format == "karpathy":
        kw["val_share"] = args.val_share
    summary = export(args.format, args.library, args.out, **kw)
    print("\n".join(summary.lines()))
    return 0
