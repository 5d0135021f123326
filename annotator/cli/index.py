"""``annotator --index PATH...``: index folders headless."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from annotator.cli._common import (
    add_beam_size,
    add_device,
    add_engine,
    add_guidance,
    add_library,
    add_metadata,
    add_model,
    user_settings,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from annotator.library import Library
    from annotator.pipeline.runner import IndexSettings, RunSummary


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``index`` subcommand (``annotator --index PATH...`` is an alias)."""
    p = sub.add_parser(
        "index",
        help="index folders headless (same as annotator --index PATH...)",
        description="Scan folders, caption new and changed photos in batches, store the "
        "captions in the library and write them into the photos. With no PATH, "
        "every folder already in the library is indexed. Ctrl-C stops after "
        "the current batch; nothing queued is lost.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    p.add_argument(
        "--index",
        dest="index_paths",
        nargs="*",
        type=Path,
        default=[],
        metavar="PATH",
        help=argparse.SUPPRESS,
    )
    add_library(p)
    add_model(p)
    p.add_argument(
        "--watch", action="store_true", help="keep running and index photos as they appear"
    )
    p.add_argument(
        "--poll", action="store_true", help="watch by polling (network mounts send no file events)"
    )
    add_beam_size(p)
    add_guidance(p)
    p.add_argument("--batch-size", type=int, default=None, help="photos per batch (default 16)")
    add_device(p)
    add_engine(p, ray=True)
    add_metadata(p)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads for decoding, hashing and metadata (default: one per CPU core)",
    )
    p.add_argument("--retry-failed", action="store_true", help="queue failed photos again")
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="also write captions into photos that symbolic links lead to outside the "
        "watched folders (default: only caption them)",
    )
    p.add_argument(
        "--recaption-older",
        action="store_true",
        help="re-caption photos whose caption came from an older model and was "
        "never edited by a person",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT|ray://HOST:PORT",
        help="with --engine ray: the cluster to join: auto (the one this machine belongs "
        "to), its head's HOST:PORT, or ray://HOST:PORT through Ray Client (default: start "
        "a Ray instance on this machine for this run)",
    )
    p.add_argument(
        "--actors",
        type=int,
        default=None,
        help="with --engine ray: captioning actors (default: one per GPU, else 1; on CPUs "
        "the actors share the cluster's CPUs)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, no per-photo lines")
    p.set_defaults(func=run_index)


def rewrite_index_flag(argv: list[str], commands: set[str]) -> list[str]:
    """Turn ``annotator [opts] --index P... [opts]`` into ``annotator index [opts] ...``.

    ``-v``/``--verbose`` before ``--index`` stays a top-level option.
    """
    if "--index" in argv and not any(a in commands for a in argv[: argv.index("--index")]):
        before = argv[: argv.index("--index")]
        verbose = [a for a in before if a in ("-v", "--verbose")]
        rest = [a for a in before if a not in ("-v", "--verbose")]
        return [*verbose, "index", *rest, *argv[len(before) :]]
    return argv


def run_index(args: argparse.Namespace) -> int:
    """Run headless indexing, printing captions, progress and a summary."""
    from annotator.cli.progress import open_progress
    from annotator.core.display import printable
    from annotator.core.types import PhotoFailure
    from annotator.library import open_library
    from annotator.pipeline.runner import (
        Finished,
        Indexer,
        IndexSettings,
        PhotoCaptioned,
        Progress,
        Status,
    )

    paths = [*args.paths, *args.index_paths]
    for p in paths:
        if not p.is_dir():
            print(f"annotator: error: {p}: not a folder", file=sys.stderr)
            return 2
    on_ray = args.engine == "ray"
    if on_ray and args.watch:
        print("annotator: error: --watch runs locally; drop --engine ray", file=sys.stderr)
        return 2
    if not on_ray and (args.address is not None or args.actors is not None):
        print("annotator: error: --address and --actors need --engine ray", file=sys.stderr)
        return 2
    if args.actors is not None and args.actors < 1:
        print("annotator: error: --actors must be at least 1", file=sys.stderr)
        return 2
    if args.beam_size is not None and args.beam_size < 1:
        print("annotator: error: --beam-size must be at least 1", file=sys.stderr)
        return 2
    settings = IndexSettings.of(
        user_settings(args),
        guidance=args.guidance,
        recaption_older=args.recaption_older,
        retry_failed=args.retry_failed,
        engine="auto" if on_ray else args.engine,  # on Ray each worker chooses as auto does
        precision=args.precision,
        follow_links=args.follow_links,
    )
    progress = open_progress(sys.stderr, quiet=args.quiet)  # a bar only on a terminal
    say = progress.write

    def listener(event: object) -> None:
        if isinstance(event, Progress):
            progress.update(event.done, event.total, event.rate, event.eta)
        elif isinstance(event, PhotoCaptioned):
            note = f"  [{printable(event.metadata)}]" if event.metadata and not args.quiet else ""
            keywords = f"\t[{printable(', '.join(event.keywords))}]" if event.keywords else ""
            say(f"{printable(event.path)}\t{printable(event.text)}{keywords}{note}")
        elif isinstance(event, PhotoFailure):
            say(f"annotator: error: {printable(event.path)}: {printable(event.reason)}", err=True)
        elif isinstance(event, Status):
            say(f"annotator: {printable(event.message)}", err=True)
        elif isinstance(event, Finished):
            progress.close()

    with contextlib.closing(progress), open_library(settings.library_location()) as library:
        if args.watch:
            summary = _watch(library, settings, paths, listener, args, say)
            if summary is None:
                return 2
        elif on_ray:
            summary = _index_on_ray(library, settings, paths, listener, args, say)
            if summary is None:
                return 2
        else:
            indexer = Indexer(library, settings, listener)
            with _stop_on_sigint(indexer.stop, say):
                roots = indexer.add_roots(paths)
                indexer.scan(roots or None)
                summary = indexer.process()
    rate = summary.captioned / summary.elapsed if summary.elapsed else 0.0
    print(
        f"captioned {summary.captioned}, skipped {summary.skipped}, failed {summary.failed}"
        f"{f', moved {summary.moved}' if summary.moved else ''}"
        f"{f', missing {summary.missing}' if summary.missing else ''}"
        f"{f', {summary.metadata_failed} writes failed' if summary.metadata_failed else ''}"
        f"{f', {summary.remaining} still not captioned' if summary.remaining else ''}"
        f" in {summary.elapsed:.1f} s ({rate:.2f} photos/s)"
        f"{' - stopped early' if summary.stopped else ''}",
        file=sys.stderr,
    )
    if summary.failed:
        print(
            "annotator: `annotator failures` lists the reasons; `--retry-failed` retries",
            file=sys.stderr,
        )
    if summary.metadata_failed:
        print(
            "annotator: captions that could not be written into their photos are kept in "
            "the library and written again by the next run",
            file=sys.stderr,
        )
    return 1 if summary.failed or summary.metadata_failed else 0


@contextmanager
def _stop_on_sigint(stop: Callable[[], None], say: Callable[..., None]) -> Iterator[None]:
    """Make the first Ctrl-C call ``stop`` (finish the current batch); the second aborts."""
    interrupted = {"n": 0}

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        say("annotator: stopping after the current batch (Ctrl-C again to abort)", err=True)
        stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _index_on_ray(
    library: Library,
    settings: IndexSettings,
    paths: list[Path],
    listener: Callable[[object], None],
    args: argparse.Namespace,
    say: Callable[..., None],
) -> RunSummary | None:
    """Index on Ray (``--engine ray``); return the summary, or None when Ray is missing."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # found, not imported: the run imports it
        say("annotator: error: --engine ray needs Ray: pip install 'annotator[cluster]'", err=True)
        return None
    from annotator.pipeline.cluster import ClusterOptions, RayIndexer

    if library.path is not None and args.address is not None:
        say(
            "annotator: warning: a SQLite library is only reachable from this machine; "
            "use a postgresql:// --library for a cluster",
            err=True,
        )
    indexer = RayIndexer(
        library, settings, listener, ClusterOptions(address=args.address, actors=args.actors)
    )
    with _stop_on_sigint(indexer.stop, say):
        return indexer.run(paths)


def _watch(
    library: Library,
    settings: IndexSettings,
    paths: list[Path],
    listener: Callable[[object], None],
    args: argparse.Namespace,
    say: Callable[..., None],
) -> RunSummary | None:
    """Index and watch the roots with the app's :class:`IndexService`, until Ctrl-C.

    Return the summary, or None when the model could not be loaded.
    """
    from annotator.pipeline.service import IndexService, ModelFailed

    failed: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, ModelFailed):
            failed.append(event.reason)
        listener(event)

    service = IndexService(library, settings, on_event, watch=True, poll=args.poll)
    try:
        with _stop_on_sigint(service.stop, say):
            roots = [library.add_root(p) for p in paths]
            service.start()
            service.scan(roots or None).result()
            say(f"annotator: watching {len(service.watched)} folder(s); Ctrl-C to stop", err=True)
            while not service.wait(0.5):
                pass
    finally:
        service.shutdown(timeout=None)
    if failed:
        print(f"annotator: error: cannot load the model: {failed[0]}", file=sys.stderr)
        return None
    return service.summary()
