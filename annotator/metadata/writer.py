"""Write a caption and keywords into a photo (EXIF + XMP) or its XMP sidecar, safely.

Every write goes to ``<name>_annotator_tmp`` in the photo's folder (ExifTool's
way), is fsynced, read back and checked (caption present, every byte outside
the EXIF and XMP blocks unchanged, image still decodes), then renamed over the
original with ``os.replace`` and the folder fsynced. A process killed at any
moment leaves the old file or the new one, plus at worst a stale temporary file
that ``cleanup_stale_temp_files`` removes.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Literal

from PIL import Image

from annotator.core.errors import MetadataReadError, MetadataWriteError
from annotator.core.types import Keyword
from annotator.metadata import container, exif, jpeg, webp, xmp
from annotator.metadata.reader import read_metadata
from annotator.metadata.types import (
    SIDECAR_STYLES,
    WRITE_MODES,
    HumanDescriptionFound,
    Origin,
    Outcome,
    PhotoMetadata,
    Provenance,
    WriteReport,
)

log = logging.getLogger(__name__)

TEMP_SUFFIX = "_annotator_tmp"
BACKUP_SUFFIX = "_original"  # ExifTool's name for the untouched original
STALE_TEMP_AGE_S = 600.0  # a temporary file older than this belongs to a dead writer
PAUSE_ENV = "ANNOTATOR_METADATA_TEST_PAUSE"  # "<point>:<seconds>", for crash tests only
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class _Fallback(Exception):
    """Signal that embedding is impossible for a stated reason and a sidecar should be used."""


class _VerifyError(Exception):
    """Signal that the file read back from disk is not what was meant to be written."""


def temp_path(path: Path) -> Path:
    """Return the temporary file a write of ``path`` goes through."""
    return path.with_name(path.name + TEMP_SUFFIX)


def backup_path(path: Path) -> Path:
    """Return where the optional backup of ``path`` goes (``photo.jpg_original``)."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def cleanup_stale_temp_files(folder: str | Path, *, older_than_s: float = 0.0) -> list[Path]:
    """Remove temporary files that crashed writes left in ``folder``; return what was removed.

    Call it at the start of a run, when no other annotator process writes to
    the folder; ``older_than_s`` spares files younger than that.
    """
    removed: list[Path] = []
    now = time.time()
    for candidate in Path(folder).glob(f"*{TEMP_SUFFIX}"):
        try:
            if candidate.is_file() and now - candidate.stat().st_mtime >= older_than_s:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot remove stale temporary file %s: %s", candidate, exc)
    if removed:
        _fsync_dir(Path(folder))
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def write_caption(
    path: str | Path,
    text: str,
    *,
    provenance: Provenance,
    keywords: Sequence[Keyword] | None = None,
    mode: Literal["embed", "sidecar", "none"] = "embed",
    sidecar_style: Literal["ext-append", "replace"] = "ext-append",
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
    """
    path = Path(path)
    if mode not in WRITE_MODES:
        raise ValueError(f"mode must be one of {WRITE_MODES}, not {mode!r}")
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
        if reason is not None:
            notes.append(f"{reason}: wrote an XMP sidecar instead")
            use_sidecar = True

    sidecar = xmp.sidecar_path(path, sidecar_style)
    if use_sidecar or sidecar.exists():  # an existing sidecar is kept in step with the photo
        try:
            if _write_sidecar(sidecar, caption, provenance, lists, dry_run=dry_run):
                targets.append(sidecar)
                fields.append(f"XMP-dc:Description ({sidecar.name})")
                if lists is not None and (lists[0] or meta.annotator_keywords):
                    fields.append(f"XMP-dc:Subject ({sidecar.name})")
        except _Fallback as exc:
            notes.append(
                f"{exc}: " + ("not updated" if targets else "caption kept in the library only")
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
    wanted = meta.path if embeds else xmp.sidecar_path(meta.path, style)
    return any(e.location == wanted and e.source.startswith("XMP") for e in real)


def _embed_blocker(path: Path, fmt: str) -> str | None:
    """Return why the photo itself cannot be written, or None if it can."""
    if fmt not in container.EMBEDDABLE:
        return f"annotator embeds captions only in JPEG, PNG and WebP, not {fmt}"
    if not _writable(path):
        return "the photo is read-only"
    if not _writable(path.parent):
        return "the photo's folder is read-only"
    return None


def _writable(path: Path) -> bool:
    """Return whether ``path`` may be written: permitted, and not marked read-only by its mode.

    A file or folder with no write bit at all counts as read-only even for root,
    who may write anyway: the user marked it so.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0))


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
        before=before,
    )
    try:
        saved = _atomic_write(
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
            raise _VerifyError("annotator's keyword record does not read back")
        keep = folded(lists[0]) | theirs
        keep_paths = folded(lists[1]) | their_paths
    if not keep <= folded(after["subject"]) or not keep_paths <= folded(after["hierarchical"]):
        raise _VerifyError("a keyword is missing from dc:subject or lr:hierarchicalSubject")
    if folded(after["digikam"]) != folded(before["digikam"]):
        raise _VerifyError("digiKam:TagsList changed")


def _verify_embedded(
    tmp: Path,
    *,
    fmt: str,
    old: bytes,
    old_exif: bytes | None,
    caption: str,
    exif_written: bool,
    lists: tuple[list[str], list[str]] | None,
    before: dict[str, list[str]],
) -> None:
    """Check the written file from disk: caption present, nothing else changed, image decodes."""
    new = tmp.read_bytes()
    try:
        if container.preserved_digest(fmt, new) != container.preserved_digest(fmt, old):
            raise _VerifyError("bytes outside the EXIF and XMP blocks changed")
        if fmt == "webp" and webp.canvas_flags(new) != webp.canvas_flags(old):
            raise _VerifyError("the WebP canvas or its flags changed")
        embedded = container.read_embedded(fmt, new)
        if embedded.xmp is None:
            raise _VerifyError("no XMP packet in the written file")
        doc = xmp.parse(embedded.xmp)
        prov = doc.provenance()
        if (
            doc.description() != caption
            or prov is None
            or prov.text_digest != xmp.text_digest(caption)
        ):
            raise _VerifyError("the XMP packet does not read back with the caption")
        _check_keywords(doc, lists, before)
        if exif_written:
            if embedded.exif is None:
                raise _VerifyError("no EXIF in the written file")
            exif.check_patch(old_exif, embedded.exif, caption)
        elif embedded.exif != old_exif:
            raise _VerifyError("EXIF changed although it was not to be written")
    except (*container.FORMAT_ERRORS, xmp.XmpError) as exc:
        raise _VerifyError(f"the written file does not parse back ({exc})") from exc
    before = _decode(old)
    after = _decode(new)
    if after != before:
        raise _VerifyError(f"the image decodes differently: {before} before, {after} after")


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
    exists = sidecar.exists()
    if (exists and not _writable(sidecar)) or not _writable(sidecar.parent):
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
            raise _VerifyError(f"the sidecar does not parse back ({exc})") from exc
        if doc.description() != caption:
            raise _VerifyError("the sidecar does not read back with the caption")
        _check_keywords(doc, lists, before)

    try:
        _atomic_write(sidecar, packet, verify=verify, keep_mtime=False, backup=False, expect=old)
    except PermissionError as exc:
        raise _Fallback(f"{sidecar.name} cannot be written ({exc.strerror or exc})") from exc
    return True


# --- the safe write -------------------------------------------------------------------


def _atomic_write(
    path: Path,
    data: bytes,
    *,
    verify: Callable[[Path], None],
    keep_mtime: bool,
    backup: bool,
    expect: bytes | None,
) -> Path | None:
    """Replace ``path`` by ``data`` through a verified, fsynced temporary file; return the backup.

    ``expect`` is what the file held when the new content was computed: if it
    changed meanwhile (another program wrote it), nothing is replaced.
    Raise ``PermissionError`` when the folder or file refuses writes, and
    ``MetadataWriteError`` for every other failure; the original is then untouched.
    """
    before = path.stat() if expect is not None else None
    tmp = temp_path(path)
    _clear_stale(tmp, path)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        # A new file (a first sidecar) gets 0o666 less the umask, like any file a program creates.
        fd = os.open(tmp, flags, 0o600 if before is not None else 0o666)
    except OSError as exc:
        if exc.errno in _UNWRITABLE:
            raise PermissionError(exc.errno, exc.strerror) from exc
        raise MetadataWriteError(path, f"cannot create {tmp.name} ({exc.strerror})") from exc
    saved: Path | None = None
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            _test_pause("mid-write", tmp)
            f.write(data[half:])
            f.flush()
            if before is not None:  # the new file takes the old one's permissions and owner
                tmp.chmod(stat.S_IMODE(before.st_mode))
                if hasattr(os, "chown"):
                    with contextlib.suppress(OSError):  # only root may give files away
                        os.chown(tmp, before.st_uid, before.st_gid)
            os.fsync(f.fileno())
        try:
            verify(tmp)
        except _VerifyError as exc:
            raise MetadataWriteError(path, f"verification failed, original kept: {exc}") from exc
        if before is not None and keep_mtime:
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
            _fsync_file(tmp)
        if expect is not None and path.read_bytes() != expect:
            raise MetadataWriteError(
                path, "the file changed while annotator was writing it; not replaced"
            )
        if backup and before is not None:
            saved = _make_backup(path)
        _test_pause("before-replace", tmp)
        tmp.replace(path)  # os.replace: atomic on POSIX and Windows
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, PermissionError):
            if exc.errno in _UNWRITABLE:
                raise PermissionError(exc.errno, exc.strerror) from exc
            raise MetadataWriteError(
                path, f"write failed, original kept ({exc.strerror or exc})"
            ) from exc
        raise
    _fsync_dir(path.parent)
    return saved


def _clear_stale(tmp: Path, path: Path) -> None:
    """Remove a temporary file left by a dead writer; refuse if a live one may own it."""
    try:
        age = time.time() - tmp.stat().st_mtime
    except FileNotFoundError:
        return
    if age < STALE_TEMP_AGE_S:
        raise MetadataWriteError(
            path,
            f"{tmp.name} exists: another write is in progress, or a recent one crashed "
            "(cleanup_stale_temp_files removes it)",
        )
    log.warning("removing stale temporary file %s", tmp)
    tmp.unlink(missing_ok=True)


def _make_backup(path: Path) -> Path:
    """Keep the original as ``photo.jpg_original`` (hard link if possible); never overwrite one."""
    target = backup_path(path)
    if target.exists():
        return target  # the first original is the one worth keeping, as ExifTool does
    try:
        os.link(path, target)
    except OSError:
        shutil.copy2(path, target)
        _fsync_file(target)
    return target


def _fsync_file(path: Path) -> None:
    """Flush one file's data and metadata to disk."""
    fd = os.open(path, os.O_RDWR if sys.platform == "win32" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk so a rename survives a power cut (no-op on Windows)."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _test_pause(point: str, tmp: Path) -> None:
    """Pause at ``point`` when the crash-test hook asks for it (``PAUSE_ENV``="point:seconds")."""
    hook = os.environ.get(PAUSE_ENV)
    if not hook or not hook.startswith(point + ":"):
        return
    os.write(2, f"annotator-test-pause {point} {tmp}\n".encode())
    time.sleep(float(hook.split(":", 1)[1]))
