"""``annotator import-checkpoint``: convert a reference-tutorial checkpoint to safetensors."""

from __future__ import annotations

import argparse

_DESCRIPTION = """\
Convert a captioner trained with sgrvinod's "a-PyTorch-Tutorial-to-Image-Captioning"
(its BEST_checkpoint_*.pth.tar plus the WORDMAP_*.json it was trained with) into an
annotator safetensors checkpoint, usable with `annotator caption --model OUT`.

SECURITY: the tutorial's checkpoints hold whole pickled Python objects, and loading a
pickle can run arbitrary code on this computer. Such files are refused unless you pass
--trust-pickle; pass it only for a file from a source you trust. A plain state-dict file
(the decoder's state dict, or {'encoder': state_dict, 'decoder': state_dict}) loads
safely without that flag.

The encoder is the tutorial's: a ResNet (depth read from the weights) pooled to a 14x14
grid, fed 256x256 photos resized without cropping and normalised with the ImageNet
statistics. When the file has no encoder weights, torchvision's ImageNet weights for
--encoder (IMAGENET1K_V1, what the tutorial used) are downloaded and stored in OUT.
"""


def _positive_int(text: str) -> int:
    """Parse a positive integer argument."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``import-checkpoint`` subcommand."""
    p = sub.add_parser(
        "import-checkpoint",
        help="convert a reference-tutorial checkpoint (a pickle: trusted files only)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--decoder-checkpoint",
        required=True,
        metavar="REF.pth.tar",
        help="the tutorial's checkpoint, or a plain state-dict file",
    )
    p.add_argument(
        "--word-map",
        required=True,
        metavar="WORDMAP.json",
        help="the tutorial's word map (word -> index) the model was trained with",
    )
    p.add_argument(
        "--out", required=True, metavar="OUT.safetensors", help="annotator checkpoint to write"
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow unpickling REF, which can run arbitrary code: use only for a "
        "file from a source you trust",
    )
    p.add_argument(
        "--encoder",
        choices=["resnet50", "resnet101", "resnet152"],
        default=None,
        help="ResNet to use when REF has no encoder weights (default resnet101); "
        "otherwise the depth is read from the weights",
    )
    p.add_argument(
        "--grid",
        type=_positive_int,
        default=None,
        metavar="N",
        help="pooled feature grid side when REF does not record it (default 14)",
    )
    p.add_argument(
        "--half", action="store_true", help="store the weights as float16 (a file half the size)"
    )
    p.add_argument(
        "--name",
        default=None,
        help="model name recorded in the checkpoint (default: OUT's file name)",
    )
    p.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Run ``annotator import-checkpoint``."""
    from annotator.train.import_checkpoint import import_checkpoint

    result = import_checkpoint(
        args.decoder_checkpoint,
        args.word_map,
        args.out,
        trust_pickle=args.trust_pickle,
        encoder=args.encoder,
        name=args.name,
        grid=args.grid,
        half=args.half,
    )
    if result.pickled:
        print(f"note: unpickled {args.decoder_checkpoint} because --trust-pickle was given")
    print(result.summary())
    return 0
