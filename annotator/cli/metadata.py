"""Define ``read-metadata`` and ``write-metadata``: show what photos hold, write library captions.

``write-metadata`` writes each photo's current caption and keywords from the
library through :func:`annotator.pipeline.write.write_metadata`, the one path
the indexer and the review panel use too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator.cli._common import add_library
from annotator.core.display import printable
from annotator.core.errors import MetadataReadError
from annotator.library import CurrentCaption, open_library
from annotator.metadata import (
    Outcome,
    PhotoMetadata,
    WriteReport,
    cleanup_stale_temp_files,
    read_metadata,
)
from annotator.metadata.types import METADATA_MODES, SIDECAR_STYLES
from annotator.pipeline.write import WriteOptions, write_metadata


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``read-metadata`` and ``write-metadata`` subcommands."""
    read = subparsers.add_parser(
        "read-metadata",
        help="print the descriptions, provenance and sidecars a photo holds",
        description="Print what a photo holds: descriptions (XMP, EXIF, IPTC, PNG, sidecars), "
        "whether a person or annotator wrote them, and the main EXIF facts.",
    )
    read.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photo files")
    read.add_argument("--json", action="store_true", help="print one JSON object per photo")
    read.set_defaults(func=run_read)

    write = subparsers.add_parser(
        "write-metadata",
        help="(re)write captions from the library into photos or XMP sidecars",
        description="Write each photo's current caption from the library into the photo "
        "(XMP dc:description and EXIF ImageDescription) or an XMP sidecar. Descriptions a "
        "person wrote are kept and imported into the library as human captions.",
    )
    write.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="photos or folders to limit the write to (default: the whole library)",
    )
    add_library(write)
    write.add_argument(
        "--mode",
        choices=METADATA_MODES,
        default="embed",
        help="embed in the photo where supported (default), sidecar only, or none",
    )
    write.add_argument(
        "--sidecar-style",
        choices=SIDECAR_STYLES,
        default="ext-append",
        help="sidecar name: photo.jpg.xmp (default, digiKam/darktable) or photo.xmp",
    )
    write.add_argument(
        "--overwrite-human", action="store_true", help="replace descriptions a person wrote"
    )
    write.add_argument(
        "--update-mtime",
        action="store_true",
        help="let written photos take the current time as modification time",
    )
    write.add_argument(
        "--backup", action="store_true", help="keep the untouched original as PHOTO_original"
    )
    write.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing"
    )
    write.add_argument(
        "--follow-links",
        action="store_true",
        help="also write photos that symbolic links lead to outside the watched folders",
    )
    write.set_defaults(func=run_write)


# --- read-metadata --------------------------------------------------------------------


def run_read(args: argparse.Namespace) -> int:
    """Print each photo's metadata; return 1 if any photo could not be read."""
    status = 0
    for path in args.paths:
        try:
            meta = read_metadata(path)
        except MetadataReadError as exc:
            print(f"annotator: error: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps(_as_json(meta), ensure_ascii=False))
        else:
            print(format_metadata(meta))
    return status


def format_metadata(meta: PhotoMetadata) -> str:
    """Return a photo's metadata as indented text lines."""
    lines = [str(meta.path)]
    verdict = {
        "none": "no description",
        "boilerplate": "only camera boilerplate",
        "annotator": "written by annotator",
        "human": "written by a person (annotator will not overwrite it)",
    }[meta.origin.value]
    lines.append(f"  Description: {verdict}")
    for e in meta.descriptions:
        mark = "  [camera boilerplate]" if e.boilerplate else ""
        lines.append(f"    {e.source}: {e.text!r}{mark}")
    if meta.provenance:
        p = meta.provenance
        score = "-" if p.score is None else f"{p.score:g}"
        lines.append(
            f"  Annotator provenance: model {p.model_version or '-'}, score {score}, "
            f"reviewed {'yes' if p.reviewed else 'no'}, source {p.source or '-'}"
        )
    if meta.annotator_keywords:
        lines.append("  Keywords written by annotator: " + ", ".join(meta.annotator_keywords))
    if meta.keywords:
        lines.append(
            "  Other keywords: "
            + ", ".join(
                f"{'|'.join(k.keyword.hierarchy) or k.keyword.word} ({k.source})"
                for k in meta.keywords
            )
        )
    if meta.sidecars:
        lines.append("  Sidecars: " + ", ".join(s.name for s in meta.sidecars))
    lines += [f"  {name}: {value}" for name, value in meta.facts]
    lines += [f"  Note: {note}" for note in meta.notes]
    return "\n".join(lines)


def _as_json(meta: PhotoMetadata) -> dict[str, Any]:
    """Return a photo's metadata as JSON-ready values."""
    return {
        "path": str(meta.path),
        "format": meta.format,
        "origin": meta.origin.value,
        "description": meta.description,
        "description_source": meta.description_source,
        "descriptions": [
            {
                "source": e.source,
                "text": e.text,
                "file": str(e.location),
                "boilerplate": e.boilerplate,
            }
            for e in meta.descriptions
        ],
        "provenance": asdict(meta.provenance) if meta.provenance else None,
        "keywords": [
            {"word": k.keyword.word, "hierarchy": list(k.keyword.hierarchy), "source": k.source}
            for k in meta.keywords
        ],
        "annotator_keywords": list(meta.annotator_keywords),
        "annotator_hierarchical_keywords": list(meta.annotator_paths),
        "sidecars": [str(s) for s in meta.sidecars],
        "facts": dict(meta.facts),
        "notes": list(meta.notes),
    }


# --- write-metadata -------------------------------------------------------------------


def select(rows: Iterable[CurrentCaption], paths: list[Path]) -> Iterator[CurrentCaption]:
    """Yield the rows whose photo is one of ``paths`` or lies under one of them (all if none)."""
    wanted = [p.resolve() for p in paths]
    for row in rows:
        where = Path(row.path).resolve()
        if not wanted or any(where == w or w in where.parents for w in wanted):
            yield row


def run_write(args: argparse.Namespace) -> int:
    """Write the library's captions and keywords into photos; return 1 if any photo failed."""
    options = WriteOptions(
        mode=args.mode,
        sidecar_style=args.sidecar_style,
        overwrite_human=args.overwrite_human,
        keep_mtime=not args.update_mtime,
        backup=args.backup,
        dry_run=args.dry_run,
    )
    with open_library(args.library, create=False) as library:
        if not args.follow_links:
            within = tuple(r.path.resolve() for r in library.roots())
            options = dataclasses.replace(options, within=within)
        rows = list(select(library.iter_current_captions(), args.paths))
        if not args.dry_run:
            for folder in sorted({Path(r.path).parent for r in rows}):
                for stale in cleanup_stale_temp_files(folder, older_than_s=0.0):
                    print(f"removed stale temporary file {stale}")
        reports = write_metadata(library, rows, options)
    failures = 0
    counts: dict[str, int] = {}
    for report in reports:
        if report.outcome is Outcome.SKIPPED:
            print(f"{printable(report.path)}: skipped: {'; '.join(report.notes)}")
            counts["skipped"] = counts.get("skipped", 0) + 1
            continue
        if report.outcome is Outcome.FAILED:
            print(f"annotator: error: {'; '.join(report.notes)}", file=sys.stderr)
            failures += 1
            continue
        counts[report.outcome.value] = counts.get(report.outcome.value, 0) + 1
        print(format_report(report))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to write"
    print(f"{summary}{f', {failures} failed' if failures else ''}")
    return 1 if failures else 0


def format_report(report: WriteReport) -> str:
    """Return one photo's write report as text lines."""
    if report.outcome in (Outcome.WRITTEN, Outcome.DRY_RUN):
        verb = "would write" if report.outcome is Outcome.DRY_RUN else "wrote"
        where = ", ".join(t.name for t in report.targets)
        head = f"{report.path}: {verb} {', '.join(report.fields)} -> {where}"
    elif report.outcome is Outcome.SKIPPED_HUMAN and report.human is not None:
        head = (
            f"{report.path}: kept human description {report.human.text!r} ({report.human.source})"
        )
    else:
        head = f"{report.path}: {report.outcome.value}"
    extra = [f"  note: {n}" for n in report.notes if report.outcome is not Outcome.SKIPPED_HUMAN]
    if report.backup:
        extra.append(f"  backup: {report.backup}")
    return "\n".join([head, *extra])
