"""Parse the command line: subcommands, ``--index`` for headless indexing, the app by default.

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
    "app",
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
    "roots",
    "desktop",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="annotator",
        description="Caption, search and tag a photo library. With no command, open the app.",
    )
    parser.add_argument("--version", action="version", version=f"annotator {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--library",
        dest="top_library",
        default=None,
        metavar="PATH",
        help="library database file or postgresql:// URL for the command that follows "
        "(or for the app when no command follows)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"annotator.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the annotator command line and return the exit status.

    With no command, open the desktop app (``annotator app``). ``--index PATH...``
    anywhere before a subcommand runs the ``index`` subcommand (headless indexing). A
    top-level ``--library`` applies to the command that follows, or to the app.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = {a for a in argv if a in _command_names(parser)}
    from annotator.cli.index import rewrite_index_flag

    argv = rewrite_index_flag(argv, commands)
    if argv[:1] == ["search"] or (argv and argv[0].startswith("-") and "search" in argv):
        from annotator.cli.search import rewrite_exclusions

        options = {
            o: a.nargs != 0 for o, a in _subcommand(parser, "search")._option_string_actions.items()
        }
        argv = rewrite_exclusions(argv, options)
    args = parser.parse_args(argv)
    apply_top_library(parser, args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        from annotator.cli.app import run_app

        func = run_app
    try:
        return int(func(args) or 0)
    except AnnotatorError as exc:
        print(f"annotator: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("annotator: interrupted", file=sys.stderr)
        return 130


def apply_top_library(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give ``annotator --library L COMMAND`` to COMMAND's own ``--library`` option."""
    top = args.top_library
    if top is None:
        return
    if args.command is None:
        args.library = top
    elif not hasattr(args, "library"):
        parser.error(f"--library does not apply to `{args.command}`")
    elif args.library is None:
        args.library = top
    elif args.library != top:
        parser.error("--library is given twice, with different values")


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    """Return the names of the subcommands ``parser`` knows."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """Return the parser of the subcommand ``name``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise KeyError(name)
