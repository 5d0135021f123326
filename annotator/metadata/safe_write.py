"""Replace a file safely: temporary file, fsync, verification, atomic rename, backups.

Format-independent: the metadata writer computes the new bytes and a ``verify``
check; :func:`atomic_write` writes them to ``<name>_annotator_tmp`` in the same
folder (ExifTool's way), fsyncs, verifies from disk, then renames over the
original with ``os.replace`` and fsyncs the folder. A process killed at any
moment leaves the old file or the new one, plus at worst a stale temporary file
that :func:`cleanup_stale_temp_files` removes.
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
from collections.abc import Callable
from pathlib import Path

from annotator.core.errors import MetadataWriteError

log = logging.getLogger(__name__)

TEMP_SUFFIX = "_annotator_tmp"
BACKUP_SUFFIX = "_original"  # ExifTool's name for the untouched original
STALE_TEMP_AGE_S = 600.0  # a temporary file older than this belongs to a dead writer
PAUSE_ENV = "ANNOTATOR_METADATA_TEST_PAUSE"  # "<point>:<seconds>", for crash tests only
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class VerifyError(Exception):
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
        fsync_dir(Path(folder))
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def writable(path: Path) -> bool:
    """Return whether ``path`` may be written: permitted, and not marked read-only by its mode.

    A file or folder with no write bit at all counts as read-only even for root,
    who may write anyway: the user marked it so.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0))


def atomic_write(
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
            pause_for_test("mid-write", tmp)
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
        except VerifyError as exc:
            raise MetadataWriteError(path, f"verification failed, original kept: {exc}") from exc
        if before is not None and keep_mtime:
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
            fsync_file(tmp)
        if expect is not None and path.read_bytes() != expect:
            raise MetadataWriteError(
                path, "the file changed while annotator was writing it; not replaced"
            )
        if backup and before is not None:
            saved = make_backup(path)
        pause_for_test("before-replace", tmp)
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
    fsync_dir(path.parent)
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


def make_backup(path: Path) -> Path:
    """Keep the original as ``photo.jpg_original`` (hard link if possible); never overwrite one."""
    target = backup_path(path)
    if target.exists():
        return target  # the first original is the one worth keeping, as ExifTool does
    try:
        os.link(path, target)
    except OSError:
        shutil.copy2(path, target)
        fsync_file(target)
    return target


def fsync_file(path: Path) -> None:
    """Flush one file's data and metadata to disk."""
    fd = os.open(path, os.O_RDWR if sys.platform == "win32" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
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


def pause_for_test(point: str, tmp: Path) -> None:
    """Pause at ``point`` when the crash-test hook asks for it (``PAUSE_ENV``="point:seconds")."""
    hook = os.environ.get(PAUSE_ENV)
    if not hook or not hook.startswith(point + ":"):
        return
    os.write(2, f"annotator-test-pause {point} {tmp}\n".encode())
    time.sleep(float(hook.split(":", 1)[1]))
