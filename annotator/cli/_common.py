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


def add_engine(p: argparse.ArgumentParser) -> None:
    """Add ``--engine auto|torch|onnx`` and ``--precision auto|fp32|int8``."""
    p.add_argument(
        "--engine",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="run the encoder in ONNX Runtime (onnx) or PyTorch (torch); auto: ONNX Runtime "
        "when it is installed, PyTorch on a GPU without onnxruntime-gpu (default: auto)",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        default="auto",
        help="encoder precision; int8 needs ONNX Runtime on the CPU (default: auto, the "
        "precision measured to keep caption quality)",
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
