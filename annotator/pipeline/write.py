"""Write captions and keywords from the library into photos: the one path for every caller.

The indexer (after captioning), ``annotator write-metadata`` and the review
panel's accept all call :func:`write_metadata`, with one photo or a batch of
:class:`~annotator.library.CurrentCaption`. It builds the provenance
(:func:`provenance`: the one place that decides what annotator records about a
caption), completes the keywords from the library (a person's typed keywords
kept, removed ones left out), calls the safe metadata writer, and imports what
a person had already put in the photo (a description, keywords) into the
library as human captions and keywords.

Provenance ``score``: the caption's mean per-word log-probability
(``CaptionResult.confidence``, the library's ``confidence``), the length-
independent confidence that the review queue orders by and the review panel
shows; the total log-probability would penalise long captions. Human captions
have none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from annotator.core.errors import AnnotatorError
from annotator.core.types import CaptionResult, Keyword
from annotator.library import CurrentCaption, Library
from annotator.metadata import Outcome, Provenance, WriteReport, write_caption
from annotator.metadata.safe_write import outside_roots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteOptions:
    """Where and how captions go into photos (see :func:`annotator.metadata.write_caption`)."""

    mode: str = "embed"  # embed, sidecar or none
    sidecar_style: str = "ext-append"  # photo.jpg.xmp; "replace": photo.xmp
    overwrite_human: bool = False
    keep_mtime: bool = True
    backup: bool = False
    dry_run: bool = False
    # The resolved watched folders: a photo whose real file lies outside them (reached
    # through a symbolic link) is not written. None: anywhere (--follow-links).
    within: Sequence[Path] | None = None


def provenance(caption: CurrentCaption) -> Provenance:
    """Return what annotator records in the photo about ``caption`` (see the module docstring)."""
    return Provenance(
        model_version=caption.model_version,
        score=caption.confidence,
        reviewed=caption.reviewed,
        source=caption.source,
    )


def from_result(
    photo_id: int, path: Path, result: CaptionResult, model_version: str
) -> CurrentCaption:
    """Return a fresh model caption (not stored yet) as the writer takes it."""
    return CurrentCaption(
        photo_id=photo_id,
        path=path,
        text=result.text,
        source="model",
        model_version=model_version,
        score=result.score,
        confidence=result.confidence,
        reviewed=False,
        keywords=result.keywords,
    )


@overload
def write_metadata(
    library: Library,
    items: CurrentCaption,
    options: WriteOptions,
    *,
    pool: Executor | None = None,
) -> WriteReport: ...


@overload
def write_metadata(
    library: Library,
    items: Sequence[CurrentCaption],
    options: WriteOptions,
    *,
    pool: Executor | None = None,
) -> list[WriteReport]: ...


def write_metadata(
    library: Library,
    items: CurrentCaption | Sequence[CurrentCaption],
    options: WriteOptions,
    *,
    pool: Executor | None = None,
) -> WriteReport | list[WriteReport]:
    """Write one photo's caption and keywords (or a batch's, in parallel with ``pool``).

    A write that fails leaves the photo as it was and comes back as a report
    with outcome ``failed`` and the reason; the library keeps the caption.
    """
    if isinstance(items, CurrentCaption):
        return _write_one(library, items, options)
    batch = list(items)
    if pool is None:
        return [_write_one(library, item, options) for item in batch]
    return list(pool.map(lambda item: _write_one(library, item, options), batch))


def _write_one(library: Library, item: CurrentCaption, options: WriteOptions) -> WriteReport:
    if options.mode == "none":
        return WriteReport(
            item.path, Outcome.DATABASE_ONLY, notes=("mode none: kept in the library only",)
        )
    outside = outside_roots(item.path, options.within)
    if outside:
        return WriteReport(item.path, Outcome.SKIPPED, notes=(outside,))
    try:
        keywords: list[Keyword] = library.keywords_to_write(item.photo_id, item.keywords)
        report = write_caption(
            item.path,
            item.text,
            provenance=provenance(item),
            keywords=keywords,
            mode=options.mode,  # type: ignore[arg-type]
            sidecar_style=options.sidecar_style,  # type: ignore[arg-type]
            overwrite_human=options.overwrite_human,
            keep_mtime=options.keep_mtime,
            backup=options.backup,
            dry_run=options.dry_run,
        )
    except (AnnotatorError, ValueError) as exc:
        return WriteReport(item.path, Outcome.FAILED, notes=(str(exc),))
    except Exception as exc:  # noqa: BLE001 - one photo's write must not stop the run
        return WriteReport(
            item.path, Outcome.FAILED, notes=(f"{item.path}: {type(exc).__name__}: {exc}",)
        )
    if not options.dry_run:
        _import_human(library, report)
    return report


def _import_human(library: Library, report: WriteReport) -> None:
    """Record a description and keywords a person left in the photo as human ones."""
    try:
        if report.human is not None:
            library.import_human_caption(report.path, report.human.text, report.human.source)
        by_source: dict[str, list[Keyword]] = {}
        for found in report.keywords_found:
            by_source.setdefault(found.source, []).append(found.keyword)
        for source, keywords in by_source.items():
            library.import_human_keywords(report.path, keywords, source)
    except AnnotatorError as exc:
        log.warning("%s: could not import what a person wrote: %s", report.path, exc)
