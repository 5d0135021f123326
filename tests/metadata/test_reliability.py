"""Defects found by hostile use of the writer: long names, concurrent writers, symlinks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from annotator.metadata import Outcome, Provenance, jpeg, read_metadata, write_caption
from annotator.metadata.writer import PAUSE_ENV, TEMP_SUFFIX, cleanup_stale_temp_files

PROV = Provenance("test-model-v1", score=-3.5)
REPO = Path(__file__).resolve().parents[2]
WRITER = (
    "import sys\n"
    "from annotator.metadata import Provenance, write_caption\n"
    "r = write_caption(sys.argv[1], sys.argv[2], provenance=Provenance('m'))\n"
    "print(r.outcome)\n"
)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_a_250_byte_name_is_written_embedded_and_in_a_sidecar(tmp_path: Path, make_jpeg) -> None:
    long = make_jpeg(tmp_path / ("p" * 246 + ".jpg"))  # 250 bytes: NAME_annotator_tmp is 264
    data = long.read_bytes()
    report = write_caption(long, "a dog on a long name", provenance=PROV)
    assert report.outcome is Outcome.WRITTEN and report.targets == (long,)
    assert read_metadata(long).description == "a dog on a long name"
    assert jpeg.image_data_digest(long.read_bytes()) == jpeg.image_data_digest(data)
    longer = make_jpeg(tmp_path / ("q" * 249 + ".jpg"))  # NAME.xmp would be 257 bytes
    side = write_caption(longer, "a cat", provenance=PROV, mode="sidecar")
    assert side.outcome is Outcome.WRITTEN
    (target,) = side.targets
    assert target == longer.with_suffix(".xmp") and len(target.name) <= 255
    assert read_metadata(longer).description == "a cat"
    assert leftovers(tmp_path) == []


def test_cleanup_spares_a_live_writers_temporary_file_and_two_writers_never_truncate(
    tmp_path: Path,
    make_jpeg,
) -> None:
    photo = make_jpeg(tmp_path / "shared.jpg")
    original = photo.read_bytes()
    env = {**os.environ, PAUSE_ENV: "before-replace:3"}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(photo), "written by the other process"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stderr.readline()
        assert line.startswith("annotator-test-pause before-replace"), line
        theirs = Path(line.split(" ", 2)[2].strip())
        # write-metadata's cleanup runs now: the other writer's file is locked, so kept.
        assert cleanup_stale_temp_files(tmp_path) == []
        assert theirs.exists()
        mine = write_caption(photo, "written by this process", provenance=PROV)
        assert mine.outcome is Outcome.WRITTEN
    finally:
        out, err = child.communicate(timeout=60)
    # The other writer held the photo's lock while paused, so this write waited, saw the
    # photo replaced under it, and wrote again from the new file: both complete, in order.
    assert child.returncode == 0, err
    assert out.strip() == "written"
    data = photo.read_bytes()
    assert jpeg.image_data_digest(data) == jpeg.image_data_digest(original)
    with Image.open(photo) as im:
        im.load()
    assert read_metadata(photo).description == "written by this process"
    assert leftovers(tmp_path) == []


def test_a_symlinked_photo_is_written_through_and_stays_a_link(tmp_path: Path, make_jpeg) -> None:
    (tmp_path / "real").mkdir()
    target = make_jpeg(tmp_path / "real" / "photo.jpg")
    link = tmp_path / "link.jpg"
    link.symlink_to(target)
    report = write_caption(link, "a linked dog", provenance=PROV)
    assert report.outcome is Outcome.WRITTEN and report.targets == (target,)
    assert any("symbolic link" in n for n in report.notes)
    assert link.is_symlink() and link.resolve() == target
    assert read_metadata(target).description == "a linked dog"


def test_a_caption_too_long_to_embed_never_leaves_two_descriptions(
    tmp_path: Path, make_jpeg: Callable[..., Path]
) -> None:
    from annotator.core.errors import MetadataWriteError

    photo = make_jpeg(tmp_path / "a.jpg")
    write_caption(photo, "a short first caption", provenance=PROV)
    before = photo.read_bytes()
    with pytest.raises(MetadataWriteError, match="nothing written"):
        write_caption(photo, "word " * 14_000, provenance=PROV)
    assert photo.read_bytes() == before
    assert not photo.with_name("a.jpg.xmp").exists()
    assert read_metadata(photo).description == "a short first caption"


def test_a_read_only_folder_note_says_one_thing(
    tmp_path: Path, make_jpeg: Callable[..., Path]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    photo = make_jpeg(folder / "a.jpg")
    folder.chmod(0o555)
    try:
        report = write_caption(photo, "a dog", provenance=PROV)
    finally:
        folder.chmod(0o755)
    assert report.outcome is Outcome.DATABASE_ONLY
    (note,) = report.notes
    assert "kept in the library only" in note and "wrote an XMP sidecar" not in note
