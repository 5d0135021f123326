"""Replace a file safely: temporary file, fsync, verification, atomic rename, backups.

Format-independent: the metadata writer computes the new bytes and a ``verify``
check; :func:`atomic_write` writes them to a temporary file in the same folder
whose name is unique to the writer (``.<name>.<pid>-<random>_annotator_tmp``, cut
to fit the file system's name limit) and which the writer holds an advisory lock
on, fsyncs, verifies from disk, then, holding a lock on the photo and checking
that nobody changed it meanwhile, renames over the original with ``os.replace``
and fsyncs the folder. A process killed at any moment leaves the old file or the
new one, plus at worst a stale temporary file that
:func:`cleanup_stale_temp_files` removes once no live writer holds its lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from annotator.core.errors import MetadataWriteError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the age limit alone protects writers
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TEMP_SUFFIX = "_annotator_tmp"
BACKUP_SUFFIX = "_original"  # ExifTool's name for the untouched original
# Without advisory locks (Windows), a temporary file older than this belongs to a dead writer.
STALE_TEMP_AGE_S = 600.0
PAUSE_ENV = "ANNOTATOR_METADATA_TEST_PAUSE"  # "<point>:<seconds>", for crash tests only
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class VerifyError(Exception):
    """Signal that the file read back from disk is not what was meant to be written."""


class ChangedMeanwhile(MetadataWriteError):
    """Signal that another program replaced the file while annotator was writing it."""


def name_max(folder: Path) -> int:
    """Return the longest file name (in bytes) the file system of ``folder`` accepts."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def fit_name(name: str, tail: str, folder: Path, *, head: str = "") -> str:
    """Return ``head + name + tail``, shortening ``name`` so that it fits the name limit."""
    limit = name_max(folder)
    room = limit - len(os.fsencode(head + tail))
    raw = os.fsencode(name)
    if len(raw) <= room:
        return head + name + tail
    if room <= 0:
        raise ValueError(f"no room for a file name ending in {tail!r}")
    cut = raw[:room]
    while True:  # do not split a multi-byte character
        try:
            short = os.fsdecode(cut)
            short.encode("utf-8", "surrogateescape")
            break
        except UnicodeError:
            cut = cut[:-1]
    return head + short + tail


def fits(path: Path) -> bool:
    """Return whether ``path``'s name fits its folder's file-name limit."""
    return len(os.fsencode(path.name)) <= name_max(path.parent)


def temp_path(path: Path, token: str | None = None) -> Path:
    """Return a temporary file name for a write of ``path``, unique to this writer.

    Hidden (the scanner skips it), in the same folder (so the rename is atomic),
    and never longer than the file system allows.
    """
    token = token or f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(fit_name(path.name, f".{token}{TEMP_SUFFIX}", path.parent, head="."))


def backup_path(path: Path) -> Path:
    """Return where the optional backup of ``path`` goes (``photo.jpg_original``)."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def _lock(fd: int, *, wait: bool) -> bool:
    """Take an exclusive advisory lock on ``fd``; return False if another process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Return whether ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), path.lstat()
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def cleanup_stale_temp_files(folder: str | Path, *, older_than_s: float = 0.0) -> list[Path]:
    """Remove temporary files that dead writers left in ``folder``; return what was removed.

    A file a live writer holds locked is left alone, whatever its age, as is one
    younger than ``older_than_s`` seconds. Safe to call while other annotator
    processes write in the same folder.
    """
    removed: list[Path] = []
    now = time.time()
    if fcntl is None:
        older_than_s = max(older_than_s, STALE_TEMP_AGE_S)
    try:
        candidates = sorted(Path(folder).glob(f"*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for candidate in candidates:
        try:
            if not candidate.is_file() or candidate.is_symlink():
                continue
            if now - candidate.stat().st_mtime < older_than_s:
                continue
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot inspect temporary file %s: %s", candidate, exc)
            continue
        try:
            if not _lock(fd, wait=False):
                continue  # a live writer's file
            if _same_file(fd, candidate):
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot remove stale temporary file %s: %s", candidate, exc)
        finally:
            os.close(fd)
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
    changed meanwhile (another program wrote it), nothing is replaced
    (:class:`ChangedMeanwhile`). Raise ``PermissionError`` when the folder or file
    refuses writes, and ``MetadataWriteError`` for every other failure; the
    original is then untouched.
    """
    before = path.stat() if expect is not None else None
    if backup and before is not None and not fits(backup_path(path)):
        raise MetadataWriteError(path, "the name is too long for a backup copy beside it")
    tmp = temp_path(path)
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
        _lock(fd, wait=True)  # tells cleanup_stale_temp_files this writer is alive
        half = len(data) // 2
        _write_all(fd, data[:half])
        pause_for_test("mid-write", tmp)
        _write_all(fd, data[half:])
        if before is not None:  # the new file takes the old one's permissions and owner
            os.fchmod(fd, stat.S_IMODE(before.st_mode))
            if hasattr(os, "fchown"):
                with contextlib.suppress(OSError):  # only root may give files away
                    os.fchown(fd, before.st_uid, before.st_gid)
        os.fsync(fd)
        try:
            verify(tmp)
        except VerifyError as exc:
            raise MetadataWriteError(path, f"verification failed, original kept: {exc}") from exc
        if before is not None and keep_mtime:
            os.utime(fd, ns=(before.st_atime_ns, before.st_mtime_ns))
            os.fsync(fd)
        if not _same_file(fd, tmp):
            raise MetadataWriteError(path, f"{tmp.name} was removed or replaced by someone else")
        saved = _replace_checked(path, tmp, expect, backup=backup and before is not None)
    except BaseException as exc:
        if _same_file(fd, tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
        os.close(fd)
        if isinstance(exc, OSError) and not isinstance(exc, PermissionError):
            if exc.errno in _UNWRITABLE:
                raise PermissionError(exc.errno, exc.strerror) from exc
            raise MetadataWriteError(
                path, f"write failed, original kept ({exc.strerror or exc})"
            ) from exc
        raise
    os.close(fd)
    fsync_dir(path.parent)
    return saved


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace_checked(path: Path, tmp: Path, expect: bytes | None, *, backup: bool) -> Path | None:
    """Rename ``tmp`` over ``path`` if ``path`` still holds ``expect``; return the backup.

    The check and the rename happen under a lock on the photo, so two annotator
    writers never both replace it from the same original.
    """
    if expect is None:  # a new file: never replace one someone created meanwhile
        if path.exists():
            raise ChangedMeanwhile(path, "the file appeared while annotator was writing it")
        pause_for_test("before-replace", tmp)
        tmp.replace(path)
        return None
    try:
        lock_fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise ChangedMeanwhile(path, "the file vanished while annotator was writing it") from exc
    try:
        _lock(lock_fd, wait=True)
        if not _same_file(lock_fd, path) or path.read_bytes() != expect:
            raise ChangedMeanwhile(
                path, "the file changed while annotator was writing it; not replaced"
            )
        saved = make_backup(path) if backup else None
        pause_for_test("before-replace", tmp)
        tmp.replace(path)  # os.replace: atomic on POSIX and Windows
        return saved
    finally:
        os.close(lock_fd)


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


def outside_roots(path: Path, within: Sequence[Path] | None) -> str:
    """Return why ``path`` must not be written (its real file is outside ``within``), or ""."""
    if within is None:
        return ""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return ""  # gone or a link loop: the write itself reports why it fails
    if any(real.is_relative_to(root) for root in within):
        return ""
    return (
        f"its file {real} is outside the watched folders (a symbolic link); "
        "not written (use --follow-links to write there)"
    )
