"""``annotator app``: open the desktop app, optionally on a chosen library and folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``app`` subcommand (also what ``annotator`` with no command runs)."""
    p = sub.add_parser(
        "app",
        help="open the desktop app (the default with no command)",
        description="Open the desktop app. Folders given are added to the library and "
        "watched; their photos are captioned in the background. --library opens "
        "another library for this session (Settings keeps the default one).",
    )
    p.add_argument("folders", nargs="*", type=Path, metavar="FOLDER")
    add_library(p)
    p.set_defaults(func=run_app)


def library_argument(value: str | None) -> str | None:
    """Return ``value`` as the app stores a library: an absolute path, or a URL as given."""
    if not value or "://" in value:
        return value or None
    return str(Path(value).expanduser().resolve())


def run_app(args: argparse.Namespace) -> int:
    """Check the folders, then open the app (Qt is imported only here)."""
    folders = [Path(f).expanduser() for f in getattr(args, "folders", [])]
    for folder in folders:
        if not folder.is_dir():
            print(f"annotator: error: {folder}: not a folder", file=sys.stderr)
            return 2
    try:
        from annotator.gui.app import run
    except ImportError as exc:
        print(
            f"annotator: cannot open the desktop app ({exc}); "
            "run `annotator --help` for the command line",
            file=sys.stderr,
        )
        return 2
    library = library_argument(getattr(args, "library", None))
    return int(run(library=library, folders=[f.resolve() for f in folders]) or 0)
