"""``annotator purge``: forget photos that are missing from disk."""

from __future__ import annotations

import argparse
from datetime import timedelta

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``purge`` subcommand."""
    p = sub.add_parser(
        "purge",
        help="delete missing photos (and their captions) from the library",
        description="Photos whose files disappeared are kept, marked missing, until "
        "purged: this deletes them with their captions and attention maps.",
    )
    add_library(p)
    p.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="only photos missing for more than DAYS days",
    )
    p.add_argument("--dry-run", action="store_true", help="only say how many would go")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``annotator purge``."""
    from annotator.library import open_library

    older = timedelta(days=args.older_than) if args.older_than is not None else None
    with open_library(args.library, create=False) as library:
        if args.dry_run:
            missing = sum(c.missing for c in library.root_counts().values())
            print(f"{missing} missing photo(s) in the library; nothing deleted")
            return 0
        purged = library.purge_missing(older_than=older)
    print(f"purged {purged} missing photo(s)")
    return 0
