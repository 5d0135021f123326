"""Write a caption and keywords into a photo (EXIF + XMP) or its XMP sidecar, safely.

Every write goes to ``<name>_annotator_tmp`` in the photo's folder (ExifTool's
way), is fsynced, read back and checked (caption present, every byte outside
the EXIF and XMP blocks unchanged, image still decodes), then renamed over the
original with ``os.replace`` and the folder fsynced. A process killed at any
moment leaves the old file or the new one, plus at worst a stale temporary file
that ``cleanup_stale_temp_files`` removes. The format-independent file handling
lives in :mod:`annotator.metadata.safe_write`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Literal

from PIL import Image

from annotator.core.errors import MetadataReadError, MetadataWriteError
from annotator.core.types import Keyword
from annotator.metadata import container, exif, jpeg, webp, xmp
from annotator.metadata.reader import read_metadata
from annotator.metadata.safe_write import (
    BACKUP_SUFFIX,
    PAUSE_ENV,
    STALE_TEMP_AGE_S,
    TEMP_SUFFIX,
    ChangedMeanwhile,
    VerifyError,
    atomic_write,
    backup_path,
    cleanup_stale_temp_files,
    fits,
    temp_path,
    writable,
)
from annotator.metadata.types import (
    METADATA_MODES,
    SIDECAR_STYLES,
    HumanDescriptionFound,
    MetadataMode,
    Origin,
    Outcome,
    PhotoMetadata,
    Provenance,
    SidecarStyle,
    WriteReport,
)

__all__ = [
    "BACKUP_SUFFIX",
    "PAUSE_ENV",
    "STALE_TEMP_AGE_S",
    "TEMP_SUFFIX",
    "backup_path",
    "cleanup_stale_temp_files",
    "temp_path",
    "try_write_caption",
    "write_caption",
]

log = logging.getLogger(__name__)


class _Fallback(Exception):
    """Signal that embedding is impossible for a stated reason and a sidecar should be used."""


def write_caption(
    path: str | Path,
    text: str,
    *,
    provenance: Provenance,
    keywords: Sequence[Keyword] | None = None,
    mode: MetadataMode = "embed",
    sidecar_style: SidecarStyle = "ext-append",
    overwrite_human: bool = False,
    keep_mtime: bool = True,
    backup: bool = False,
    dry_run: bool = False,
) -> WriteReport:
    """Write ``text`` as the photo's description, with annotator provenance; report what was done.

    ``mode="embed"`` writes XMP ``dc:description`` and EXIF ``ImageDescription``
    into JPEG and WebP, XMP into PNG, and a sidecar for every other format or
    where the photo or its folder is read-only. ``"sidecar"`` writes only the
    sidecar (``photo.jpg.xmp``, or ``photo.xmp`` with ``sidecar_style="replace"``);
    ``"none"`` writes nothing. A description someone else wrote is left alone
    unless ``overwrite_human``: the report carries it as ``human``.

    ``keywords`` become annotator's keywords in XMP ``dc:subject`` (every
    hierarchy level and the word) and ``lr:hierarchicalSubject`` (the path);
    those annotator wrote before and no longer gives are removed, every other
    keyword stays. None leaves keywords alone. The report's ``keywords_found``
    holds the keywords already there that annotator did not write. Raise
    ``MetadataWriteError`` when a write was attempted and could not be done
    safely; the photo is then unchanged.

    A symbolic link is never replaced: the write goes through to the file it
    points at (callers decide whether that file may be written). If another
    program changes the photo during the write, the write starts over (twice at
    most) from what the photo holds then.
    """
    path = Path(path)
    target = path
    link_notes: tuple[str, ...] = ()
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise MetadataWriteError(path, f"a broken symbolic link ({exc})") from exc
        link_notes = (f"a symbolic link: wrote through to {target}",)
    for attempt in range(3):
        try:
            report = _write_caption(
                target,
                text,
                provenance=provenance,
                keywords=keywords,
                mode=mode,
                sidecar_style=sidecar_style,
                overwrite_human=overwrite_human,
                keep_mtime=keep_mtime,
                backup=backup,
                dry_run=dry_run,
            )
            break
        except ChangedMeanwhile:
            if attempt == 2:
                raise
            log.info("%s changed during the write; writing again", target)
    if target == path:
        return report
    notes = (*link_notes, *report.notes) if report.targets else report.notes
    return dataclasses.replace(report, path=path, notes=notes)


def _write_caption(
    path: Path,
    text: str,
    *,
    provenance: Provenance,
    keywords: Sequence[Keyword] | None,
    mode: str,
    sidecar_style: str,
    overwrite_human: bool,
    keep_mtime: bool,
    backup: bool,
    dry_run: bool,
) -> WriteReport:
    """Write the caption into ``path`` (not a link); see :func:`write_caption`."""
    if mode not in METADATA_MODES:
        raise ValueError(f"mode must be one of {METADATA_MODES}, not {mode!r}")
    if sidecar_style not in SIDECAR_STYLES:
        raise ValueError(f"sidecar_style must be one of {SIDECAR_STYLES}, not {sidecar_style!r}")
    caption = xmp.clean_text(text)
    if not caption:
        raise ValueError("the caption is empty")
    if mode == "none":
        return WriteReport(
            path, Outcome.DATABASE_ONLY, notes=("mode none: kept in the library only",)
        )
    try:
        meta = read_metadata(path)
    except MetadataReadError as exc:
        raise MetadataWriteError(path, exc.reason) from exc
    lists = None if keywords is None else xmp.keyword_lists(keywords)

    if meta.is_human and not overwrite_human:
        assert meta.description is not None and meta.description_source is not None
        found = HumanDescriptionFound(path, meta.description, meta.description_source)
        return WriteReport(
            path,
            Outcome.SKIPPED_HUMAN,
            human=found,
            notes=(
                f"kept the human description in {found.source} (use --overwrite-human to replace)",
            ),
            keywords_found=meta.keywords,
        )
    if _already_written(meta, caption, provenance, lists, mode, sidecar_style):
        return WriteReport(
            path,
            Outcome.UNCHANGED,
            notes=("the photo already holds this caption",),
            keywords_found=meta.keywords,
        )

    notes: list[str] = []
    fields: list[str] = []
    targets: list[Path] = []
    saved: Path | None = None
    use_sidecar = mode == "sidecar"
    reason: str | None = None
    if mode == "embed":
        reason = _embed_blocker(path, meta.format)
        if reason is None:
            try:
                embed_notes: list[str] = []  # kept only if the photo itself gets written
                fields, saved = _embed(
                    path,
                    meta.format,
                    caption,
                    provenance,
                    lists,
                    embed_notes,
                    keep_mtime=keep_mtime,
                    backup=backup,
                    dry_run=dry_run,
                )
                targets.append(path)
                notes += embed_notes
            except _Fallback as exc:
                reason = str(exc)
                _refuse_contradiction(meta, caption, reason)
        if reason is not None:
            use_sidecar = True

    sidecar = _sidecar_for(path, sidecar_style)
    if sidecar is None:
        if use_sidecar:
            notes.append(
                (f"{reason}; " if reason else "")
                + "the name is too long for an XMP sidecar: caption kept in the library only"
            )
    elif use_sidecar or _exists(sidecar):  # an existing sidecar is kept in step with the photo
        try:
            if _write_sidecar(sidecar, caption, provenance, lists, dry_run=dry_run):
                targets.append(sidecar)
                fields.append(f"XMP-dc:Description ({sidecar.name})")
                if lists is not None and (lists[0] or meta.annotator_keywords):
                    fields.append(f"XMP-dc:Subject ({sidecar.name})")
                if reason:
                    notes.append(f"{reason}: wrote an XMP sidecar instead")
        except _Fallback as exc:
            lead = f"{reason}; " if reason else ""
            notes.append(
                f"{lead}{exc}: "
                + ("not updated" if targets else "caption kept in the library only")
            )

    if not targets:
        return WriteReport(
            path, Outcome.DATABASE_ONLY, notes=tuple(notes), keywords_found=meta.keywords
        )
    if not dry_run and overwrite_human:
        notes += _left_behind(path, caption)
    return WriteReport(
        path,
        Outcome.DRY_RUN if dry_run else Outcome.WRITTEN,
        targets=tuple(targets),
        fields=tuple(fields),
        notes=tuple(notes),
        backup=saved,
        keywords_found=meta.keywords,
    )


def try_write_caption(
    path: str | Path, text: str, **options: object
) -> WriteReport | Literal[False]:
    """Call ``write_caption``; on ``MetadataWriteError`` log it and return False (beets style)."""
    try:
        return write_caption(path, text, **options)  # type: ignore[arg-type]
    except MetadataWriteError as exc:
        log.error("could not write the caption: %s", exc)
        return False


# --- deciding -------------------------------------------------------------------------


def _exists(path: Path) -> bool:
    """Return whether ``path`` exists (False for a name the file system cannot hold)."""
    try:
        return path.exists()
    except OSError:
        return False


def _sidecar_for(path: Path, style: str) -> Path | None:
    """Return the sidecar to use for ``path``: the style's name, else the other if only it fits."""
    wanted = xmp.sidecar_path(path, style)
    if fits(wanted):
        return wanted
    other = xmp.sidecar_path(path, "replace" if style == "ext-append" else "ext-append")
    return other if other != path and fits(other) else None


def _already_written(
    meta: PhotoMetadata,
    caption: str,
    provenance: Provenance,
    lists: tuple[list[str], list[str]] | None,
    mode: str,
    style: str,
) -> bool:
    """Return whether the places this write would fill already hold this caption and claim."""
    if meta.origin is not Origin.ANNOTATOR or not provenance.same_claim(meta.provenance):
        return False
    if lists is not None:
        words = {w.casefold() for w in lists[0]}
        paths = {p.casefold() for p in lists[1]}
        own = {w.casefold() for w in meta.annotator_keywords}
        own_paths = {p.casefold() for p in meta.annotator_paths}
        theirs = {
            w.casefold() for k in meta.keywords for w in (k.keyword.word, *k.keyword.hierarchy)
        }
        their_paths = {"|".join(k.keyword.hierarchy).casefold() for k in meta.keywords}
        if not (own <= words <= own | theirs and own_paths <= paths <= own_paths | their_paths):
            return False
    assert meta.provenance is not None
    if meta.provenance.text_digest != xmp.text_digest(caption):
        return False
    real = [e for e in meta.descriptions if not e.boilerplate]
    if any(e.text.strip() != caption for e in real):
        return False
    embeds = mode == "embed" and _embed_blocker(meta.path, meta.format) is None
    wanted = meta.path if embeds else _sidecar_for(meta.path, style)
    return any(e.location == wanted and e.source.startswith("XMP") for e in real)


def _refuse_contradiction(meta: PhotoMetadata, caption: str, reason: str) -> None:
    """Refuse a sidecar-only write that would leave a different description in the photo.

    The photo itself could not take the caption (too long for its XMP packet, say):
    a sidecar alone would give the photo two different descriptions.
    """
    inside = [
        e
        for e in meta.descriptions
        if e.location == meta.path and not e.boilerplate and e.text.strip() != caption
    ]
    if inside:
        raise MetadataWriteError(
            meta.path,
            f"{reason}; the photo keeps its embedded description {inside[0].text[:40]!r}, "
            "which a sidecar alone would contradict: nothing written",
        )


def _embed_blocker(path: Path, fmt: str) -> str | None:
    """Return why the photo itself cannot be written, or None if it can."""
    if fmt not in container.EMBEDDABLE:
        return f"annotator embeds captions only in JPEG, PNG and WebP, not {fmt}"
    if not writable(path):
        return "the photo is read-only"
    if not writable(path.parent):
        return "the photo's folder is read-only"
    return None


def _left_behind(path: Path, caption: str) -> list[str]:
    """Return notes on other descriptions still in the photo after overwriting a human one."""
    try:
        after = read_metadata(path)
    except MetadataReadError:
        return []
    return [
        f"{e.source} still holds a different description (annotator does not write it)"
        for e in after.descriptions
        if not e.boilerplate and e.text.strip() != caption
    ]


# --- embedding ------------------------------------------------------------------------


def _embed(
    path: Path,
    fmt: str,
    caption: str,
    provenance: Provenance,
    lists: tuple[list[str], list[str]] | None,
    notes: list[str],
    *,
    keep_mtime: bool,
    backup: bool,
    dry_run: bool,
) -> tuple[list[str], Path | None]:
    """Write the caption (and keywords) into the photo; return the fields and the backup made."""
    try:
        data = path.read_bytes()
        embedded = container.read_embedded(fmt, data)
    except OSError as exc:
        raise MetadataWriteError(path, f"cannot read the photo ({exc.strerror or exc})") from exc
    except container.FORMAT_ERRORS as exc:
        raise _Fallback(f"the file's structure cannot be edited safely ({exc})") from exc
    try:
        before = _keyword_fields(embedded.xmp)
        packet = xmp.packet_with_caption(
            embedded.xmp,
            caption,
            provenance,
            keywords=lists,
            padding=xmp.DEFAULT_PADDING,
            limit=container.XMP_LIMITS.get(fmt),
            exact=None if embedded.xmp is None else len(embedded.xmp),  # reuse its padding
        )
    except xmp.XmpError as exc:
        raise _Fallback(f"the embedded XMP cannot be updated ({exc})") from exc
    # Data after EOI that EXIF points at must not move: then the file keeps its length.
    pinned = jpeg.trailer_reference(data) if fmt == "jpeg" else None

    fields = ["XMP-dc:Description", "XMP-annotator"]
    if lists is not None and (lists[0] or before["own"]):
        fields[1:1] = ["XMP-dc:Subject", "XMP-lr:HierarchicalSubject"]
    new_exif: bytes | None = None
    if fmt in ("jpeg", "webp"):
        new_exif, why = _exif_with_caption(embedded.exif, caption, fmt)
        if why:
            notes.append(f"EXIF not round-trippable: {why}; wrote XMP only")
        else:
            fields.insert(1, "EXIF:ImageDescription")
    try:
        new_data = container.rebuild(fmt, data, exif_block=new_exif, xmp=packet)
        if pinned and len(new_data) != len(data) and new_exif is not None:
            new_exif = None  # the description did not fit in place: leave EXIF alone
            fields.remove("EXIF:ImageDescription")
            notes.append(f"EXIF not round-trippable: {pinned}; wrote XMP only")
            new_data = container.rebuild(fmt, data, exif_block=None, xmp=packet)
    except container.FORMAT_ERRORS as exc:
        raise _Fallback(f"the file's structure cannot be edited safely ({exc})") from exc
    if pinned and len(new_data) != len(data):
        raise _Fallback(f"{pinned}, which adding metadata would move")
    if dry_run:
        return fields, None
    verify = partial(
        _verify_embedded,
        fmt=fmt,
        old=data,
        old_exif=embedded.exif,
        caption=caption,
        exif_written=new_exif is not None,
        lists=lists,
        keywords_before=before,
    )
    try:
        saved = atomic_write(
            path, new_data, verify=verify, keep_mtime=keep_mtime, backup=backup, expect=data
        )
    except PermissionError as exc:
        raise _Fallback(f"the photo cannot be written ({exc.strerror or exc})") from exc
    return fields, saved


def _exif_with_caption(
    old: bytes | None, caption: str, fmt: str
) -> tuple[bytes | None, str | None]:
    """Return (new EXIF block, None) or (None, why EXIF must be left as it is)."""
    try:
        if old is None:
            new = exif.new_block(caption)
        else:
            exif.load_with_piexif(old)  # piexif must be able to read what it is asked to keep
            new = exif.set_description(old, caption)
        exif.check_patch(old, new, caption)
    except exif.ExifError as exc:
        return None, str(exc)
    if fmt == "jpeg" and len(new) > jpeg.MAX_EXIF_TIFF:
        return None, f"the EXIF block would grow past the 64 KB APP1 limit ({len(new)} bytes)"
    return new, None


def _keyword_fields(packet: bytes | None) -> dict[str, list[str]]:
    """Return the keyword properties of a packet (empty lists for none or an unparsable one)."""
    empty: dict[str, list[str]] = {
        "subject": [],
        "hierarchical": [],
        "digikam": [],
        "own": [],
        "own_paths": [],
    }
    if packet is None or not packet.strip(b"\x00 \t\r\n"):
        return empty
    try:
        return xmp.parse(packet).keyword_fields()
    except xmp.XmpError:
        return empty


def _check_keywords(
    doc: xmp.XmpDocument,
    lists: tuple[list[str], list[str]] | None,
    before: dict[str, list[str]],
) -> None:
    """Check keywords read back: annotator's present and recorded, nobody else's lost."""
    after = doc.keyword_fields()

    def folded(items: list[str]) -> set[str]:
        return {i.casefold() for i in items}

    theirs = folded(before["subject"]) - folded(before["own"])
    their_paths = folded(before["hierarchical"]) - folded(before["own_paths"])
    if lists is None:
        keep, keep_paths = folded(before["subject"]), folded(before["hierarchical"])
    else:
        if (
            folded(after["own"]) != folded(lists[0]) - theirs
            or folded(after["own_paths"]) != folded(lists[1]) - their_paths
        ):
            raise VerifyError("annotator's keyword record does not read back")
        keep = folded(lists[0]) | theirs
        keep_paths = folded(lists[1]) | their_paths
    if not keep <= folded(after["subject"]) or not keep_paths <= folded(after["hierarchical"]):
        raise VerifyError("a keyword is missing from dc:subject or lr:hierarchicalSubject")
    if folded(after["digikam"]) != folded(before["digikam"]):
        raise VerifyError("digiKam:TagsList changed")


def _verify_embedded(
    tmp: Path,
    *,
    fmt: str,
    old: bytes,
    old_exif: bytes | None,
    caption: str,
    exif_written: bool,
    lists: tuple[list[str], list[str]] | None,
    keywords_before: dict[str, list[str]],
) -> None:
    """Check the written file from disk: caption present, nothing else changed, image decodes."""
    new = tmp.read_bytes()
    try:
        if container.preserved_digest(fmt, new) != container.preserved_digest(fmt, old):
            raise VerifyError("bytes outside the EXIF and XMP blocks changed")
        if fmt == "webp" and webp.canvas_flags(new) != webp.canvas_flags(old):
            raise VerifyError("the WebP canvas or its flags changed")
        embedded = container.read_embedded(fmt, new)
        if embedded.xmp is None:
            raise VerifyError("no XMP packet in the written file")
        doc = xmp.parse(embedded.xmp)
        prov = doc.provenance()
        if (
            doc.description() != caption
            or prov is None
            or prov.text_digest != xmp.text_digest(caption)
        ):
            raise VerifyError("the XMP packet does not read back with the caption")
        _check_keywords(doc, lists, keywords_before)
        if exif_written:
            if embedded.exif is None:
                raise VerifyError("no EXIF in the written file")
            exif.check_patch(old_exif, embedded.exif, caption)
        elif embedded.exif != old_exif:
            raise VerifyError("EXIF changed although it was not to be written")
    except (*container.FORMAT_ERRORS, xmp.XmpError) as exc:
        raise VerifyError(f"the written file does not parse back ({exc})") from exc
    before = _decode(old)
    after = _decode(new)
    if after != before:
        raise VerifyError(f"the image decodes differently: {before} before, {after} after")


def _decode(data: bytes) -> tuple[int, int, str] | str:
    """Decode an image (JPEG at 1/8 scale, which still reads every scan); return size and mode."""
    try:
        with Image.open(BytesIO(data)) as im:
            size, mode = im.size, im.mode
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
            return (*size, mode)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds; any failure counts
        return f"undecodable ({type(exc).__name__})"


# --- sidecars -------------------------------------------------------------------------


def _write_sidecar(
    sidecar: Path,
    caption: str,
    provenance: Provenance,
    lists: tuple[list[str], list[str]] | None,
    *,
    dry_run: bool,
) -> bool:
    """Create or update an XMP sidecar, keeping every property it had; return True if written."""
    exists = _exists(sidecar)
    if (exists and not writable(sidecar)) or not writable(sidecar.parent):
        raise _Fallback(f"{sidecar.name if exists else 'the folder'} is read-only")
    try:
        old = sidecar.read_bytes() if exists else None
    except OSError as exc:
        raise MetadataWriteError(
            sidecar, f"cannot read the sidecar ({exc.strerror or exc})"
        ) from exc
    try:
        before = _keyword_fields(old)
        packet = xmp.packet_with_caption(old, caption, provenance, keywords=lists)
    except xmp.XmpError as exc:
        raise _Fallback(f"{sidecar.name} is not valid XMP and was left untouched ({exc})") from exc
    if dry_run:
        return True

    def verify(tmp: Path) -> None:
        try:
            doc = xmp.parse(tmp.read_bytes())
        except xmp.XmpError as exc:
            raise VerifyError(f"the sidecar does not parse back ({exc})") from exc
        if doc.description() != caption:
            raise VerifyError("the sidecar does not read back with the caption")
        _check_keywords(doc, lists, before)

    try:
        atomic_write(sidecar, packet, verify=verify, keep_mtime=False, backup=False, expect=old)
    except PermissionError as exc:
        raise _Fallback(f"{sidecar.name} cannot be written ({exc.strerror or exc})") from exc
    return True


# --- the safe write -------------------------------------------------------------------
