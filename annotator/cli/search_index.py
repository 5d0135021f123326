"""``annotator search-index check|rebuild``: verify or rebuild the full-text search index."""

from __future__ import annotations

import argparse
import sys

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``search-index`` subcommand."""
    p = sub.add_parser(
        "search-index",
        help="check the full-text search index against the captions, or rebuild it",
        description="The search index follows the captions by itself; `check` verifies "
        "that it does (exit status 1 when it does not), `rebuild` indexes every current "
        "caption again (repairs what `check` reports).",
    )
    p.add_argument("action", choices=("check", "rebuild"))
    add_library(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check or rebuild the search index."""
    from annotator.core.errors import LibraryError
    from annotator.library import open_library

    with open_library(args.library, create=False) as library:
        if args.action == "rebuild":
            library.rebuild_index()
            print("search index rebuilt", file=sys.stderr)
            return 0
        try:
            library.check_index()
        except LibraryError as exc:
            print(f"annotator: search index: {exc}; `annotator search-index rebuild` repairs it")
            return 1
    print("search index ok", file=sys.stderr)
    return 0
