"""Share argument helpers between subcommands."""

from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    """Add ``--device auto|cpu|cuda``."""
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a GPU when available), cpu, cuda or cuda:N (default: auto)",
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
    """Add ``--library PATH`` (default: the library in the user data directory)."""
    p.add_argument(
        "--library",
        default=None,
        metavar="PATH",
        help="library database file or postgresql:// URL (default: the user's "
        f"library in the platform's data directory){extra_help}",
    )


def add_model(p: argparse.ArgumentParser) -> None:
    """Add ``--model PATH`` (default: the shipped model)."""
    p.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="captioner checkpoint (.safetensors); default: the shipped model",
    )
