"""``annotator failures``: list photos that could not be captioned, and why."""

from __future__ import annotations

import argparse
import json
import sys

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``failures`` subcommand."""
    p = sub.add_parser("failures", help="list photos that could not be captioned, and why")
    add_library(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List recorded failures."""
    from annotator.core.display import printable
    from annotator.library import open_library

    with open_library(args.library, create=False) as library:
        rows = library.failures(limit=args.limit)
    if args.json:
        print(
            json.dumps(
                [
                    {"path": str(f.path), "reason": f.reason, "time": f.created_at.isoformat()}
                    for f in rows
                ],
                indent=2,
            )
        )
    else:
        for f in rows:
            print(f"{printable(f.path)}\t{printable(f.reason)}\t{f.created_at:%Y-%m-%d %H:%M}")
        if not rows:
            print("no failures", file=sys.stderr)
    return 0
