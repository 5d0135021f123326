"""Share argument helpers between subcommands."""

from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    """Add ``--device auto|cpu|cuda``."""
    p.add_argument("--device", default="auto",
                   help="auto (a GPU when available), cpu, cuda or cuda:N (default: auto)")


def add_model(p: argparse.ArgumentParser) -> None:
    """Add ``--model PATH`` (default: the shipped model)."""
    p.add_argument("--model", default=None, metavar="PATH",
                   help="captioner checkpoint (.safetensors); default: the shipped model")
