"""Parse the command line: subcommands, ``--index`` for headless indexing, GUI by default.

Each subcommand lives in its own module under ``annotator.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from annotator import __version__
from annotator.core.errors import AnnotatorError

# Modules under annotator.cli that define subcommands, in help order.
COMMAND_MODULES: list[str] = [
    "index",
    "failures",
    "caption",
    "train",
    "export",
    "finetune",
    "import_checkpoint",
    "metadata",
    "search",
    "search_index",
    "purge",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="annotator",
        description="Caption, search and tag a photo library. With no arguments, open the app.",
    )
    parser.add_argument("--version", action="version", version=f"annotator {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"annotator.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the annotator command line and return the exit status.

    With no arguments, open the desktop app. ``--index PATH...`` anywhere before a
    subcommand runs the ``index`` subcommand (headless indexing).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return _run_gui()
    parser = build_parser()
    commands = {a for a in argv if a in _command_names(parser)}
    from annotator.cli.index import rewrite_index_flag

    args = parser.parse_args(rewrite_index_flag(argv, commands))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except AnnotatorError as exc:
        print(f"annotator: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("annotator: interrupted", file=sys.stderr)
        return 130


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    """Return the names of the subcommands ``parser`` knows."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _run_gui() -> int:
    """Open the desktop app (imported lazily: the CLI never needs Qt)."""
    try:
        from annotator.gui.app import run
    except ImportError as exc:
        print(
            f"annotator: cannot open the desktop app ({exc}); "
            "run `annotator --help` for the command line",
            file=sys.stderr,
        )
        return 2
    return int(run() or 0)
