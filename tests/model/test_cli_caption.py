from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main


def odd_but_valid(tmp: Path) -> list[Path]:
    """Create photos that must still be captioned: 16-bit PNG, CMYK, GIF, alpha, tiny."""
    out = []
    p = tmp / "sixteen.png"
    Image.fromarray(np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)).save(p)
    out.append(p)
    p = tmp / "cmyk.jpg"
    Image.new("CMYK", (80, 60), (0, 120, 200, 10)).save(p)
    out.append(p)
    p = tmp / "anim.gif"
    fr = [Image.new("RGB", (30, 30), c) for c in ("red", "blue")]
    fr[0].save(p, save_all=True, append_images=fr[1:])
    out.append(p)
    p = tmp / "alpha.png"
    Image.new("RGBA", (50, 50), (0, 255, 0, 128)).save(p)
    out.append(p)
    return out


def test_caption_prints_one_line_per_photo(
    tiny_model: Path, samples: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["caption", "--model", str(tiny_model), "--device", "cpu", *map(str, samples)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split("\t")[0] for line in out] == [str(p) for p in samples]
    assert all(line.split("\t")[1].strip() for line in out)


def test_bad_photos_fail_alone_and_set_the_exit_status(
    tiny_model: Path,
    samples: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad_inputs,
) -> None:
    bad = bad_inputs(tmp_path)
    good = [samples[0], *odd_but_valid(tmp_path), samples[1]]
    args = [str(good[0]), *(str(p) for p, _ in bad.values()), *map(str, good[1:])]
    code = main(
        ["caption", "--model", str(tiny_model), "--device", "cpu", "--batch-size", "3", *args]
    )
    cap = capsys.readouterr()
    assert code == 1
    printed = [line.split("\t")[0] for line in cap.out.strip().splitlines()]
    assert printed == [str(p) for p in good]
    errors = cap.err.strip().splitlines()
    assert len(errors) == len(bad)
    for (path, reason), line in zip(bad.values(), errors, strict=True):
        assert line.startswith(f"annotator: error: {path}: ") and reason in line


def test_json_has_scores_nbest_and_attention_plot(
    tiny_model: Path, samples: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "att.png"
    code = main(
        [
            "caption",
            "--model",
            str(tiny_model),
            "--device",
            "cpu",
            "--beam-size",
            "3",
            "--json",
            "--attention-plot",
            str(plot),
            str(samples[0]),
        ]
    )
    assert code == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["caption"] == " ".join(rec["words"]) and rec["beam_size"] == 3
    assert len(rec["alternatives"]) == 3 and rec["alternatives"][0]["caption"] == rec["caption"]
    assert rec["score"] == pytest.approx(sum(rec["word_logprobs"]), abs=1e-4)
    assert rec["model"].startswith("tiny-random@")
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.width > 200


def test_refused_model_is_a_clear_error(
    tmp_path: Path, samples: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "model.pth"
    fake.write_bytes(b"\x80\x04K\x01.")
    assert main(["caption", "--model", str(fake), str(samples[0])]) == 2
    assert "refusing to load" in capsys.readouterr().err
