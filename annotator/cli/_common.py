"""Share argument helpers between subcommands.

Options that mirror a user setting (:class:`~annotator.core.settings.Settings`)
default to None, which means "what the settings say"; :func:`user_settings`
applies the options given on the command line over the settings.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from annotator.core.settings import DEFAULT_BEAM_SIZE, Settings, load_settings
from annotator.metadata.types import METADATA_MODES, SIDECAR_STYLES

# Options whose destination is a field of Settings of the same name.
SETTINGS_OPTIONS = (
    "library",
    "model",
    "beam_size",
    "device",
    "metadata",
    "sidecar_style",
    "overwrite_human",
    "batch_size",
    "workers",
)


def user_settings(args: argparse.Namespace) -> Settings:
    """Return the user's settings with the options given in ``args`` applied over them."""
    given = {k: getattr(args, k) for k in SETTINGS_OPTIONS if getattr(args, k, None) is not None}
    return replace(load_settings(), **given)


def add_device(p: argparse.ArgumentParser) -> None:
    """Add ``--device auto|cpu|cuda``."""
    p.add_argument(
        "--device",
        default=None,
        help="auto (a GPU when available), cpu, cuda or cuda:N (default: the settings', "
        "auto unless changed)",
    )


def add_engine(p: argparse.ArgumentParser, *, ray: bool = False) -> None:
    """Add ``--engine auto|torch|onnx`` (``|ray`` with ``ray``) and ``--precision``."""
    p.add_argument(
        "--engine",
        choices=["auto", "torch", "onnx", *(["ray"] if ray else [])],
        default="auto",
        help="run the encoder in ONNX Runtime (onnx) or PyTorch (torch); auto: ONNX Runtime "
        "when it is installed, PyTorch on a GPU without onnxruntime-gpu (default: auto)"
        + (
            "; ray: index on a Ray cluster (see --address; pip install 'annotator[cluster]', "
            "use a postgresql:// --library), each worker choosing its encoder as auto does"
            if ray
            else ""
        ),
    )
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        default="auto",
        help="encoder precision; int8 needs ONNX Runtime on the CPU (default: auto, the "
        "precision measured to keep caption quality)",
    )


def add_guidance(p: argparse.ArgumentParser) -> None:
    """Add ``--guidance none|tags`` (tag-guided decoding, on by default)."""
    p.add_argument(
        "--guidance",
        choices=["none", "tags"],
        default="tags",
        help="tags (default): captions name what the encoder's classifier confidently "
        "recognises (constrained beam search); none: plain beam search",
    )


def add_library(p: argparse.ArgumentParser, extra_help: str = "") -> None:
    """Add ``--library PATH`` (default: the settings' library)."""
    p.add_argument(
        "--library",
        default=None,
        metavar="PATH",
        help="library database file or postgresql:// URL (default: the settings' library, "
        f"else the user's library in the platform's data directory){extra_help}",
    )


def add_model(p: argparse.ArgumentParser) -> None:
    """Add ``--model PATH`` (default: the settings' model, else the shipped one)."""
    p.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="captioner checkpoint (.safetensors); default: the settings' model, else the "
        "shipped model",
    )


def add_beam_size(p: argparse.ArgumentParser) -> None:
    """Add ``--beam-size K`` (default: the settings' beam size)."""
    p.add_argument(
        "--beam-size",
        type=int,
        default=None,
        metavar="K",
        help=f"beam width, 1 = greedy (default: the settings', {DEFAULT_BEAM_SIZE} unless changed)",
    )


def add_metadata(p: argparse.ArgumentParser) -> None:
    """Add ``--metadata MODE``, ``--sidecar-style STYLE`` and ``--overwrite-human``."""
    p.add_argument(
        "--metadata",
        choices=METADATA_MODES,
        default=None,
        help="write captions into the photos (embed), into XMP sidecars, or keep them in "
        "the library only (none); default: the settings', embed unless changed",
    )
    p.add_argument(
        "--sidecar-style",
        choices=SIDECAR_STYLES,
        default=None,
        help="sidecar name: photo.jpg.xmp (ext-append, the default) or photo.xmp (replace)",
    )
    p.add_argument(
        "--overwrite-human",
        action="store_true",
        default=None,
        help="replace descriptions a person wrote (default: keep and import them)",
    )
