"""Defects found by hostile use of the indexer: each fails before its fix."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from annotator.core.errors import MetadataWriteError
from annotator.library.repository import Library, open_library
from annotator.metadata import read_metadata
from annotator.metadata.writer import TEMP_SUFFIX
from annotator.model.captioner import Captioner
from annotator.pipeline.runner import Indexer, IndexSettings, Status


def indexer(
    library: Library, captioner: Captioner, events: list | None = None, **kw: object
) -> Indexer:
    settings = IndexSettings(
        batch_size=kw.pop("batch_size", 4), metadata=kw.pop("metadata", "none"), **kw
    )  # type: ignore[arg-type]
    return Indexer(library, settings, events.append if events is not None else None, captioner)


def bomb_png(path: Path, width: int = 40_000, height: int = 40_000) -> Path:
    """Write a tiny PNG whose header claims ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
    data += struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    data += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    data += struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(data)
    return path


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_a_decompression_bomb_fails_alone(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    root = tmp_path / "bomb"
    make_photos(root, 3)
    bomb_png(root / "bomb.png")
    summary = indexer(library, captioner).run([root])
    assert summary.captioned == 3 and summary.failed == 1
    (failure,) = library.failures()
    assert failure.path.name == "bomb.png" and "decompression bomb" in failure.reason


def test_a_name_that_is_not_utf8_fails_alone_and_spares_its_batch(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    root = tmp_path / "names"
    (good, *_) = make_photos(root, 3)
    bad = os.fsencode(root) + b"/\xff\xfe.jpg"
    with open(bad, "wb") as f:
        f.write(good.read_bytes())
    summary = indexer(library, captioner).run([root])
    assert summary.captioned == 3 and summary.failed == 1
    (failure,) = library.failures()
    assert str(failure.path).endswith("\\xff\\xfe.jpg") and "UTF-8" in failure.reason
    # The watcher hands names in batches: the bad one must not drop the others.
    (late,) = make_photos(root, 1, prefix="late", seed=5)
    idx = indexer(library, captioner)
    assert idx.record_paths([Path(os.fsdecode(bad)), late]) == 1
    assert idx.process().captioned == 1
    assert library.photo_by_path(late).state.value == "captioned"


def test_a_250_byte_name_is_indexed_and_written(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    root = tmp_path / "long"
    (src,) = make_photos(root, 1)
    photo = src.rename(root / ("x" * 246 + ".jpg"))
    for mode in ("embed", "sidecar"):
        summary = indexer(library, captioner, metadata=mode).run([root])
        assert summary.failed == 0 and summary.metadata_failed == 0
        text = library.current_caption(library.photo_by_path(photo).id).text
        assert read_metadata(photo).description == text
    assert library.queue_counts()[next(iter(library.queue_counts()))] == 0
    assert temporaries(root) == []


def test_stale_temporaries_are_removed_and_failed_writes_are_written_next_run(
    library: Library,
    captioner: Captioner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_photos: Callable[..., list[Path]],
) -> None:
    from annotator.metadata import writer

    root = tmp_path / "stale"
    photos = make_photos(root, 4)
    legacy = photos[0].with_name(photos[0].name + TEMP_SUFFIX)  # left by an old kill -9
    legacy.write_bytes(b"half a photo")
    real = writer.atomic_write
    broken = {photos[1]}

    def failing(path: Path, *args: object, **kwargs: object) -> object:
        if path in broken:
            raise MetadataWriteError(path, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(writer, "atomic_write", failing)
    first = indexer(library, captioner, metadata="embed").run([root])
    assert first.captioned == 4 and first.metadata_failed == 1 and first.metadata_written == 3
    assert temporaries(root) == []
    assert read_metadata(photos[1]).description is None
    broken.clear()
    second = indexer(library, captioner, metadata="embed").run([root])
    assert second.captioned == 0 and second.metadata_written == 1
    for p in photos:
        assert (
            read_metadata(p).description
            == library.current_caption(library.photo_by_path(p).id).text
        )
    assert library.pending_writes() == []


def test_kills_while_captioning_never_fail_a_photo(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    root = tmp_path / "kills"
    make_photos(root, 8)
    idx = indexer(library, captioner, batch_size=8)
    idx.add_roots([root])
    idx.scan()
    for _ in range(3):  # a worker decodes the batch, then the process is killed
        worker = open_library(library.path)
        jobs = worker.claim_jobs(8, isolate_suspects=True)
        worker.mark_decoded(j.job_id for j in jobs)
        worker.close()
    summary = indexer(library, captioner, batch_size=8).process()
    assert summary.captioned == 8 and summary.failed == 0 and summary.remaining == 0
    assert library.failures() == []


def test_a_root_that_comes_back_resumes_and_a_users_pause_stays(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    root = tmp_path / "drive"
    make_photos(root, 2)
    indexer(library, captioner).run([root])
    root.rename(tmp_path / "elsewhere")
    indexer(library, captioner).run()
    (info,) = library.roots()
    assert info.paused and info.auto_paused
    (tmp_path / "elsewhere").rename(root)
    make_photos(root, 2, prefix="new", seed=3)
    events: list = []
    summary = indexer(library, captioner, events).run([root])
    assert summary.captioned == 2 and summary.remaining == 0
    assert any(isinstance(e, Status) and "resumed" in e.message for e in events)
    assert not library.roots()[0].paused
    # A pause the user chose is theirs: a run neither lifts it nor hides it.
    library.set_root_paused(info.id, True)
    make_photos(root, 1, prefix="later", seed=4)
    events.clear()
    summary = indexer(library, captioner, events).run([root])
    assert summary.captioned == 0
    assert any(isinstance(e, Status) and "roots resume" in e.message for e in events)
    library.set_root_paused(info.id, True, auto=True)  # unreachable later: still the user's
    assert library.resume_reachable_roots() == [] and library.roots()[0].paused


def test_links_out_of_the_root_are_captioned_but_not_written(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos: Callable[..., list[Path]]
) -> None:
    outside = tmp_path / "outside"
    (foreign,) = make_photos(outside, 1, prefix="foreign")
    root = tmp_path / "root"
    (own,) = make_photos(root, 1)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "link.jpg").symlink_to(own)
    before = foreign.read_bytes()
    summary = indexer(library, captioner, metadata="embed").run([root])
    assert summary.captioned == 3 and summary.metadata_failed == 0
    assert foreign.read_bytes() == before
    assert (root / "link.jpg").is_symlink()  # written through, never replaced
    assert read_metadata(own).description is not None
    with Image.open(own) as im:
        im.load()


def test_failed_writes_make_the_command_exit_non_zero(
    tmp_path: Path,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_photos: Callable[..., list[Path]],
) -> None:
    from annotator.cli import main
    from annotator.metadata import writer

    root = tmp_path / "full-disk"
    make_photos(root, 4)

    def no_space(path: Path, *args: object, **kwargs: object) -> object:
        raise MetadataWriteError(path, "write failed, original kept (No space left on device)")

    monkeypatch.setattr(writer, "atomic_write", no_space)
    cmd = ["--index", str(root), "--library", str(tmp_path / "lib.db"), "--model", str(tiny_model)]
    assert main([*cmd, "--device", "cpu", "--metadata", "embed", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "captioned 4, skipped 0, failed 0" in err and "4 writes failed" in err


def test_write_metadata_does_not_write_through_links_out_of_the_roots(
    library: Library,
    captioner: Captioner,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_photos: Callable[..., list[Path]],
) -> None:
    from annotator.cli import main

    outside = tmp_path / "outside"
    (foreign,) = make_photos(outside, 1, prefix="foreign")
    root = tmp_path / "root"
    make_photos(root, 1)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    indexer(library, captioner).run([root])  # metadata none: captions in the library only
    before = foreign.read_bytes()
    assert main(["write-metadata", "--library", str(library.path)]) == 0
    assert "outside the watched folders" in capsys.readouterr().out
    assert foreign.read_bytes() == before
    assert main(["write-metadata", "--library", str(library.path), "--follow-links"]) == 0
    assert read_metadata(foreign).description is not None
