"""Kill concurrent indexers at random and check nothing was lost, doubled or damaged.

Three ``annotator --index`` processes and one ``annotator write-metadata`` share one
library and one folder of 60 photos; every few seconds one of them, at random, gets
``kill -9`` and is started again, for ``--rounds`` rounds; then one clean run. Prints
the figures and whether every invariant held: every photo captioned exactly once,
every caption embedded, no temporary file left, no photo's image data changed, no job
left, no failure. Runs on SQLite, and on PostgreSQL with ``--postgres URL`` (an empty
database) or ``--start-postgres`` (a throwaway server from the Debian ``postgresql``
package on 127.0.0.1).

Usage: python benchmarks/kill.py [--photos 60] [--rounds 20] [--model PATH]
       [--postgres URL | --start-postgres] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotator.pipeline.killtest import check, image_digests, run_kills, write_photos  # noqa: E402


def start_postgres(base: Path) -> tuple[str, list[str]]:
    """Start a throwaway PostgreSQL cluster; return its URL and the command that stops it."""
    bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = base / "data"
    run = lambda *a: subprocess.run([*prefix, *a], check=True, capture_output=True)  # noqa: E731
    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "annotator",
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start")
    run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "annotator", "kill")
    stop = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return f"postgresql://annotator@127.0.0.1:{port}/kill", stop


def main() -> int:
    """Run the kill benchmark once per database and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--every", type=float, nargs=2, default=(2.0, 5.0), metavar=("MIN", "MAX"))
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    ap.add_argument("--seed", type=int, default=0)
    db = ap.add_mutually_exclusive_group()
    db.add_argument("--postgres", default=None, metavar="URL", help="also run on this database")
    db.add_argument("--start-postgres", action="store_true", help="also run on a local server")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="annotator-kill-"))
    work.chmod(0o755)  # the PostgreSQL server runs as another user
    targets = [("sqlite", str(work / "sqlite" / "library.sqlite3"))]
    stop: list[str] | None = None
    if args.start_postgres:
        pg = work / "pg"
        pg.mkdir()
        url, stop = start_postgres(pg)
        targets.append(("postgresql", url))
    elif args.postgres:
        targets.append(("postgresql", args.postgres))
    status = 0
    try:
        for name, library in targets:
            root = work / name / "photos"
            photos = write_photos(root, args.photos, seed=args.seed)
            before = image_digests(photos)
            report = run_kills(
                root,
                library,
                args.model,
                rounds=args.rounds,
                every=tuple(args.every),
                seed=args.seed,
                cwd=REPO,
            )
            report = check(report, root, library, before)
            print(f"== {name}: 3 indexers + write-metadata, {args.rounds} rounds of kill -9")
            for line in report.lines():
                print(f"   {line}")
            if not report.ok:
                status = 1
                print(report.clean_run_stderr)
                for label, items in (
                    ("twice", report.captioned_twice_or_more),
                    ("not captioned", report.not_captioned),
                    ("not embedded", report.not_embedded),
                    ("failures", report.failures),
                    ("temporaries", report.temporaries),
                ):
                    for item in items[:5]:
                        print(f"   {label}: {item}")
    finally:
        if stop is not None:
            subprocess.run(stop, check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
