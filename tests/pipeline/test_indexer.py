from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from annotator.core.types import PhotoFailure
from annotator.library.repository import Library
from annotator.model.captioner import Captioner
from annotator.pipeline.runner import (
    Finished,
    Indexer,
    IndexSettings,
    PhotoCaptioned,
    Progress,
)
from annotator.pipeline.scan import iter_photos


def indexer(
    library: Library, captioner: Captioner, events: list | None = None, **kw: object
) -> Indexer:
    settings = IndexSettings(
        batch_size=kw.pop("batch_size", 4), metadata=kw.pop("metadata", "none"), **kw
    )  # type: ignore[arg-type]
    listener = events.append if events is not None else None
    return Indexer(library, settings, listener, captioner=captioner)


def test_index_a_folder_then_search_it(
    library: Library, captioner: Captioner, samples: list[Path], tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in samples:
        shutil.copy(p, photos / p.name)
    events: list = []
    summary = indexer(library, captioner, events).run([photos])
    assert summary.captioned == len(samples) and summary.failed == 0
    done = [e for e in events if isinstance(e, PhotoCaptioned)]
    assert sorted(e.path.name for e in done) == sorted(p.name for p in samples)
    assert isinstance(events[-1], Finished)
    assert any(isinstance(e, Progress) and e.done == e.total == len(samples) for e in events)
    word = done[0].text.split()[0]
    hits = library.search(word)
    assert hits and {Path(h.path).name for h in hits} <= {p.name for p in samples}
    info = library.attention(library.photo_by_path(photos / "chelsea.jpg").id)
    assert info is not None and info.maps.shape[1:] == (7, 7)
    # a second run captions nothing: same model version, unchanged files
    again = indexer(library, captioner).run([photos])
    assert again.captioned == 0 and again.skipped == len(samples)


def test_corrupt_files_fail_alone(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos
) -> None:
    folder = tmp_path / "mixed"
    good = make_photos(folder, 5)
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.png").write_text("hello")
    data = good[0].read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 3])
    events: list = []
    summary = indexer(library, captioner, events, batch_size=3).run([folder])
    assert summary.captioned == 5 and summary.failed == 3
    reasons = {f.path.name: f.reason for f in library.failures()}
    assert set(reasons) == {"zero.jpg", "text.png", "cut.jpg"}
    assert "empty" in reasons["zero.jpg"] and "truncated" in reasons["cut.jpg"]
    assert {e.path.name for e in events if isinstance(e, PhotoFailure)} == set(reasons)
    # --retry-failed queues them again (they fail again, nothing else is redone)
    retry = indexer(library, captioner, retry_failed=True)
    retry.scan()
    assert retry.process().failed == 3 and retry.summary.captioned == 0


def test_moves_keep_captions_and_deletions_mark_missing(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "root"
    a, b, _ = make_photos(root, 3)
    indexer(library, captioner).run([root])
    pid = library.photo_by_path(a).id
    before = library.current_caption(pid)
    (root / "sub").mkdir()
    moved = root / "sub" / "renamed.jpg"
    a.rename(moved)
    b.unlink()
    summary = indexer(library, captioner).run([root])
    assert summary.captioned == 0 and summary.moved == 1 and summary.missing == 1
    photo = library.photo_by_path(moved)
    assert photo.id == pid and library.current_caption(pid).id == before.id
    assert library.photo_by_path(b).state.value == "missing"


def test_unmounted_root_is_paused_not_deleted(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "drive"
    make_photos(root, 3)
    indexer(library, captioner).run([root])
    root.rename(tmp_path / "drive-unplugged")  # the drive goes away
    summary = indexer(library, captioner).run()
    assert summary.missing == 0
    (info,) = library.roots()
    assert info.paused and not info.available
    counts = library.root_counts()[info.id]
    assert counts.captioned == 3 and counts.missing == 0


def test_scan_skips_hidden_and_survives_symlink_loops(tmp_path: Path, make_photos) -> None:
    root = tmp_path / "r"
    make_photos(root / "a", 2)
    make_photos(root / ".hidden", 2)
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "notes.txt").write_text("x")
    found = list(iter_photos(root))
    assert sorted(p.name for p in found) == ["photo000.jpg", "photo001.jpg"]


def _fake_raw(path: Path, with_preview: bool) -> None:
    """Write a TIFF-based 'RAW' whose only decodable image is an embedded JPEG preview."""
    buf = io.BytesIO()
    Image.new("RGB", (160, 120), (200, 30, 30)).save(buf, "JPEG")
    body = b"II*\x00\x08\x00\x00\x00" + os.urandom(2000)
    path.write_bytes(body + (buf.getvalue() if with_preview else b"") + os.urandom(500))


def test_raw_files_use_the_embedded_preview(
    library: Library, captioner: Captioner, tmp_path: Path
) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    _fake_raw(root / "IMG_0001.CR2", with_preview=True)
    _fake_raw(root / "IMG_0002.NEF", with_preview=False)
    summary = indexer(library, captioner).run([root])
    assert summary.captioned == 1 and summary.failed == 1
    (failure,) = library.failures()
    assert failure.path.name == "IMG_0002.NEF" and "unsupported RAW" in failure.reason
    photo = library.photo_by_path(root / "IMG_0001.CR2")
    assert (photo.width, photo.height) == (160, 120)


def test_stop_after_the_current_batch_loses_nothing(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "many"
    make_photos(root, 12)
    events: list = []
    idx = indexer(library, captioner, events, batch_size=3)

    def stop_on_first_batch(event: object) -> None:
        events.append(event)
        if isinstance(event, Progress):
            idx.stop()

    idx.listener = stop_on_first_batch
    summary = idx.run([root])
    assert summary.stopped and summary.captioned == 3
    counts = library.queue_counts()
    assert counts[next(k for k in counts if k.value == "pending")] == 9
    # the batch claimed ahead was given back: no attempt counted against its photos
    claimed = library.claim_jobs(100)
    assert {j.attempts for j in claimed} == {1}
    library.release_jobs(j.job_id for j in claimed)
    rest = indexer(library, captioner, batch_size=3).run()
    assert rest.captioned == 9 and rest.skipped == 3  # still-queued photos are not "skipped"
    assert all(
        len(library.caption_history(library.photo_by_path(p).id)) == 1 for p in root.glob("*.jpg")
    )


def test_recaption_older_skips_human_edits(
    library: Library, captioner: Captioner, tmp_path: Path, make_photos, make_tiny_checkpoint
) -> None:
    from annotator.model.captioner import Captioner as C

    root = tmp_path / "r"
    a, b = make_photos(root, 2)
    indexer(library, captioner).run([root])
    library.add_human_revision(library.photo_by_path(b).id, "my own words")
    newer = C.load(make_tiny_checkpoint(tmp_path / "v2.safetensors", seed=7), "cpu")
    assert newer.ckpt.version != captioner.ckpt.version
    plain = indexer(library, newer).run([root])
    assert plain.captioned == 0  # no --recaption-older: nothing to do
    summary = indexer(library, newer, recaption_older=True).run([root])
    assert summary.captioned == 1
    assert library.current_caption(library.photo_by_path(a).id).model_version == newer.ckpt.version
    assert library.current_caption(library.photo_by_path(b).id).text == "my own words"


@pytest.mark.parametrize("mode", ["embed", "sidecar"])
def test_metadata_is_written_and_does_not_trigger_recaptioning(
    library: Library, captioner: Captioner, tmp_path: Path, mode: str, make_photos
) -> None:
    from annotator.metadata import read_metadata

    root = tmp_path / "m"
    (p,) = make_photos(root, 1)
    summary = indexer(library, captioner, metadata=mode).run([root])
    assert summary.captioned == 1 and summary.metadata_written == 1
    meta = read_metadata(p)
    text = library.current_caption(library.photo_by_path(p).id).text
    assert meta.description == text and meta.origin.value == "annotator"
    assert (p.with_name(p.name + ".xmp").exists()) == (mode == "sidecar")
    again = indexer(library, captioner, metadata=mode).run([root])
    assert again.captioned == 0


def test_write_metadata_finds_indexed_photos_up_to_date(
    library: Library,
    captioner: Captioner,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_photos,
) -> None:
    from annotator.cli import main

    root = tmp_path / "w"
    make_photos(root, 2)
    indexer(library, captioner, metadata="embed").run([root])
    assert main(["write-metadata", "--library", str(library.path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write" not in out, out


def test_captions_do_not_depend_on_batching_or_decoding_ahead(
    captioner: Captioner, samples: list[Path], tmp_path: Path
) -> None:
    from annotator.library.repository import open_library

    texts = []
    for i, (batch, ahead) in enumerate([(1, 1), (2, 3), (16, 2)]):
        photos = tmp_path / f"run{i}"
        photos.mkdir()
        for p in samples:
            shutil.copy(p, photos / p.name)
        events: list = []
        with open_library(tmp_path / f"lib{i}.sqlite3") as lib:
            summary = indexer(lib, captioner, events, batch_size=batch, decode_ahead=ahead).run(
                [photos]
            )
        assert summary.captioned == len(samples)
        done = [e for e in events if isinstance(e, PhotoCaptioned)]
        texts.append(sorted((e.path.name, e.text, e.confidence) for e in done))
    for other in texts[1:]:  # same words; scores equal up to float rounding of batched matmuls
        assert [(n, t) for n, t, _ in other] == [(n, t) for n, t, _ in texts[0]]
        assert all(abs(a[2] - b[2]) < 1e-5 for a, b in zip(other, texts[0], strict=True))
