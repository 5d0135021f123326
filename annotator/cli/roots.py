"""``annotator roots``: list, pause, resume and remove the watched folders."""

from __future__ import annotations

import argparse
import sys

from annotator.cli._common import add_library


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``roots`` subcommand with its ``list``, ``pause``, ``resume``, ``remove``."""
    p = sub.add_parser(
        "roots",
        help="list, pause, resume or remove watched folders",
        description="Show the folders the library watches, with their photo counts, and "
        "pause, resume or remove one (by id or folder). A folder annotator paused because "
        "it was unreachable resumes by itself once it is back.",
    )
    add_library(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the watched folders (default)")
    for name, what in (
        ("pause", "stop captioning photos in a folder (nothing is deleted)"),
        ("resume", "caption photos in a paused folder again"),
        ("remove", "stop watching a folder and forget its photos and captions"),
    ):
        a = actions.add_parser(name, help=what)
        a.add_argument("root", metavar="ROOT", help="the folder, or its id from `roots list`")
    p.set_defaults(func=run, action=None)


def run(args: argparse.Namespace) -> int:
    """Run ``annotator roots``."""
    from annotator.core.display import printable
    from annotator.library import open_library

    with open_library(args.library, create=False) as library:
        if args.action in (None, "list"):
            counts = library.root_counts()
            roots = library.roots()
            for r in roots:
                c = counts.get(r.id)
                state = "unreachable" if not r.available else "paused" if r.paused else "active"
                if r.paused and r.auto_paused:
                    state += " (resumes when reachable)"
                photos = (
                    f"{c.total} photos, {c.captioned} captioned, {c.pending} pending, "
                    f"{c.failed} failed, {c.missing} missing"
                    if c
                    else "no photos"
                )
                print(f"{r.id}\t{printable(r.path)}\t{state}\t{photos}")
            if not roots:
                print("no watched folders", file=sys.stderr)
            return 0
        root = library.root(args.root)
        if args.action == "pause":
            library.set_root_paused(root.id, True)
            print(f"paused {printable(root.path)}")
        elif args.action == "resume":
            library.set_root_paused(root.id, False)
            print(f"resumed {printable(root.path)}")
        else:
            n = library.remove_root(root.id)
            print(f"removed {printable(root.path)} and forgot its {n} photo(s)")
    return 0
