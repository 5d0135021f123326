"""One run over a folder of hostile files: good photos captioned, bad ones failed with reasons."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.library import open_library
from annotator.metadata import read_metadata
from annotator.metadata.writer import TEMP_SUFFIX


def _jpeg(size: tuple[int, int], *, seed: int, **options: object) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85, **options)
    return out.getvalue()


def _bomb() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    data += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 64)
    data += (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    return data + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def hostile_corpus(root: Path, outside: Path) -> tuple[set[str], dict[str, str]]:
    """Write the corpus; return the good photos' names and the bad ones' expected reasons."""
    root.mkdir()
    outside.mkdir()
    good: dict[str, bytes] = {
        "normal.jpg": _jpeg((96, 72), seed=1),
        "progressive.jpg": _jpeg((96, 72), seed=2, progressive=True),
        "trailing-junk.jpg": _jpeg((96, 72), seed=3) + b"JUNK" * 100,
        "strip.jpg": _jpeg((4000, 10), seed=4),
        "p" * 246 + ".jpg": _jpeg((64, 48), seed=5),  # a 250-byte name
    }
    cmyk = io.BytesIO()
    Image.new("CMYK", (64, 48), (10, 200, 30, 5)).save(cmyk, "JPEG")
    good["cmyk.jpg"] = cmyk.getvalue()
    deep = io.BytesIO()
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).save(deep, "PNG")
    good["sixteen-bit.png"] = deep.getvalue()
    gif = io.BytesIO()
    frames = [Image.new("P", (40, 30), i * 60) for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    good["animated.gif"] = gif.getvalue()
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tiny, "PNG")
    good["one-pixel.png"] = tiny.getvalue()
    for name, data in good.items():
        (root / name).write_bytes(data)
    (outside / "foreign.jpg").write_bytes(_jpeg((96, 72), seed=6))
    (root / "linked-out").symlink_to(outside, target_is_directory=True)  # out of the root
    (root / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop

    full = _jpeg((96, 72), seed=7)
    bad = {
        "bomb.png": (_bomb(), "decompression bomb"),
        "zero.jpg": (b"", "empty"),
        "truncated.jpg": (full[: len(full) // 3], "truncated"),
        "page.jpg": (b"<!DOCTYPE html><html><body>not a photo</body></html>", "not a recognised"),
    }
    for name, (data, _) in bad.items():
        (root / name).write_bytes(data)
    with open(os.fsencode(root) + b"/\xff\xfe.jpg", "wb") as f:
        f.write(full)
    reasons = {name: why for name, (_, why) in bad.items()}
    reasons["\\xff\\xfe.jpg"] = "not valid UTF-8"
    return {*good, "linked-out/foreign.jpg"}, reasons


@pytest.mark.slow
def test_one_run_over_a_hostile_corpus(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, outside = tmp_path / "hostile", tmp_path / "outside"
    good, reasons = hostile_corpus(root, outside)
    foreign = (outside / "foreign.jpg").read_bytes()
    db = str(tmp_path / "lib.sqlite3")
    cmd = ["--index", str(root), "--library", db, "--model", str(tiny_model), "--device", "cpu"]
    cmd += ["--batch-size", "4", "--metadata", "embed", "--quiet"]
    assert main(cmd) == 1  # non-zero: there are failures
    err = capsys.readouterr().err
    assert "Traceback" not in err
    with open_library(db, create=False) as lib:
        for name in good:
            photo = lib.photo_by_path(root / name)
            assert photo is not None and photo.state.value == "captioned", name
        failures = {Path(str(f.path)).name: f.reason for f in lib.failures(limit=None)}
    assert set(failures) == set(reasons)
    for name, why in reasons.items():
        assert why in failures[name], (name, failures[name])
    assert read_metadata(root / "normal.jpg").description  # written into the good ones
    assert (outside / "foreign.jpg").read_bytes() == foreign  # not written outside the root
    assert not [p for p in root.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    # Without the bad files, the same run has nothing to fail: exit status 0.
    for name in reasons:
        bad = root / name if name != "\\xff\\xfe.jpg" else root / os.fsdecode(b"\xff\xfe.jpg")
        bad.unlink()
    assert main(cmd) == 0
