"""``annotator search``: search the library's captions and keywords from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``search`` subcommand."""
    p = sub.add_parser(
        "search",
        help="search captions and keywords in the library",
        description="Search the current captions and keywords of the library. Words are "
        'stemmed ("dogs" finds "dog"); "a phrase" in quotes, word* for a prefix, OR between '
        "two words for either, -word to exclude. A general word also finds the specific "
        'words under it ("person" finds "a man", "animal" finds dogs and cats), listed '
        "after the photos that match it as typed; --exact turns that off. Any text is "
        "accepted.",
    )
    p.add_argument(
        "query",
        nargs="+",
        help="what to look for (quote it for the shell); -word excludes a word, no -- needed",
    )
    add_library(p)
    p.add_argument("--json", action="store_true", help="print the hits as a JSON list")
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show at most N hits (default 20)"
    )
    p.add_argument(
        "--order",
        choices=("relevance", "date", "confidence"),
        default="relevance",
        help="relevance (default), date (newest first) or confidence "
        "(least confident first, for review)",
    )
    p.add_argument("--folder", type=Path, default=None, help="only photos under this folder")
    p.add_argument(
        "--keyword",
        default=None,
        metavar="WORD",
        help="only photos with this keyword (or with it as a level of a keyword's "
        "hierarchy, such as Animals); case-insensitive",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="match the words as typed: no expansion of general words",
    )
    reviewed = p.add_mutually_exclusive_group()
    reviewed.add_argument(
        "--reviewed",
        dest="reviewed",
        action="store_const",
        const=True,
        help="only reviewed captions",
    )
    reviewed.add_argument(
        "--unreviewed",
        dest="reviewed",
        action="store_const",
        const=False,
        help="only captions nobody has reviewed",
    )
    p.add_argument(
        "--human",
        dest="human_edited",
        action="store_const",
        const=True,
        help="only captions a person wrote or edited",
    )
    p.add_argument(
        "--model-version",
        default=None,
        metavar="VERSION",
        help="only captions written by this model version",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``annotator search``; exit status 1 when nothing matched."""
    from annotator.core.display import printable
    from annotator.library import open_library

    if args.limit < 1:
        print("annotator: error: --limit must be at least 1", file=sys.stderr)
        return 2
    with open_library(args.library, create=False) as library:
        hits = library.search(
            " ".join(args.query),
            limit=args.limit,
            order_by=args.order,
            folder=args.folder,
            reviewed=args.reviewed,
            human_edited=args.human_edited,
            model_version=args.model_version,
            keyword=args.keyword,
            exact=args.exact,
        )
    if args.json:
        print(json.dumps([h.to_json() for h in hits], indent=2, ensure_ascii=False))
    else:
        for hit in hits:
            flags = "" if hit.source == "model" else " (edited)"
            keywords = f"\t[{', '.join(hit.keywords)}]" if hit.keywords else ""
            print(f"{printable(hit.path)}\t{printable(hit.snippet)}{flags}{keywords}")
        if not hits:
            print("no matches", file=sys.stderr)
    return 0 if hits else 1


def rewrite_exclusions(argv: list[str], options: dict[str, bool]) -> list[str]:
    """Move the query terms of ``annotator search`` after ``--`` so ``-word`` stays a term.

    ``annotator search dog -cat`` would otherwise fail with "unrecognized
    arguments". ``options`` maps each option of the command to whether it takes
    a value; any other argument is a query term.
    """
    at = argv.index("search") + 1
    head, rest = argv[:at], argv[at:]
    if "--" in rest or not any(a.startswith("-") and a.split("=")[0] not in options for a in rest):
        return argv
    kept: list[str] = []
    terms: list[str] = []
    args = iter(rest)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in options:
            kept.append(arg)
            if options[name] and "=" not in arg:
                value = next(args, None)
                if value is not None:
                    kept.append(value)
        else:
            terms.append(arg)
    return [*head, *kept, "--", *terms]
