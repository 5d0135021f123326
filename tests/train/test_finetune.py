"""Fine-tune on people's corrections: a concept renamed on specific photos is learnt.

A small base model learns to caption synthetic photos (coloured circles and
squares) as "a red circle on a white background". In a library, people
consistently rename "circle" to "disc" on the photos with a circle and accept the
squares. After exporting and fine-tuning, the held-out corrected photos score a
higher BLEU-4 and CIDEr-D, and the model says "disc" on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from annotator.cli import main
from annotator.core import settings
from annotator.library import Library, open_library
from annotator.library.testing import upsert_photo
from annotator.model.captioner import Captioner
from annotator.model.checkpoint import load_checkpoint
from annotator.model.vocab import Vocab
from annotator.pipeline.export import export_karpathy
from annotator.train.dataset import load_karpathy
from annotator.train.finetune import (
    NEW_WORD_MARGIN,
    WordInit,
    finetune,
    grow_decoder_state,
    plan_new_words,
    substitutions,
)
from annotator.train.loop import TrainConfig, train

COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 220),
    "green": (30, 180, 60),
    "yellow": (230, 200, 20),
}


def draw_photo(path: Path, colour: str, shape: str, rng: np.random.Generator) -> None:
    """Draw one synthetic photo: a coloured circle or square on a light background."""
    im = Image.new("RGB", (128, 96), (240, 240, 240))
    size = int(rng.integers(36, 70))
    x, y = int(rng.integers(4, 128 - size - 4)), int(rng.integers(4, 96 - min(size, 88)))
    box = (x, y, x + size, min(95, y + size))
    (ImageDraw.Draw(im).ellipse if shape == "circle" else ImageDraw.Draw(im).rectangle)(
        box, fill=COLOURS[colour]
    )
    im.save(path, quality=92)


def photo_set(folder: Path, n: int, seed: int) -> list[tuple[Path, str, str]]:
    """Write n photos cycling through colours and shapes; return (path, colour, shape)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        colour, shape = list(COLOURS)[i % 4], ("circle", "square")[(i // 4) % 2]
        path = folder / f"p{seed}_{i:02d}.jpg"
        draw_photo(path, colour, shape, rng)
        out.append((path, colour, shape))
    return out


@pytest.fixture(scope="module")
def base_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_config: Callable[..., TrainConfig]
) -> tuple[Path, Path, Path]:
    """Train a tiny base captioner on synthetic photos; return (checkpoint, cache, dataset)."""
    root = tmp_path_factory.mktemp("base")
    photos = photo_set(root / "images", 32, seed=0)
    images = [
        {
            "filename": p.name,
            "split": "val" if i >= 28 else "train",
            "sentences": [
                {"raw": f"a {c} {s} on a white background"},
                {"raw": f"a {c} {s} in the picture"},
            ],
        }
        for i, (p, c, s) in enumerate(photos)
    ]
    dataset = root / "dataset.json"
    dataset.write_text(json.dumps({"images": images}))
    out = root / "base.safetensors"
    cfg = tiny_config(
        dataset,
        out,
        root / "cache",
        16,
        images=str(root / "images"),
        batch_size=8,
        lr=5e-3,
        lr_patience=100,
        dropout=0.1,
        max_len=12,
        captions_per_image=2,
        plot=False,
        patience=20,
        name="shapes",
    )
    train(cfg, log=lambda m: None)
    return out, root / "cache", dataset


def add_photos(lib: Library, folder: Path) -> dict[Path, int]:
    """Record every photo of ``folder`` in the library; return their ids by path."""
    root = lib.add_root(folder)
    ids = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        ids[path] = upsert_photo(
            lib,
            root.id,
            path,
            hashlib.sha256(data).hexdigest(),
            len(data),
            path.stat().st_mtime,
            128,
            96,
        ).photo_id
    return ids


def caption_with(lib: Library, cap: Captioner, ids: dict[Path, int]) -> dict[int, str]:
    """Caption the photos with ``cap`` through the library's queue; return the captions."""
    lib.enqueue(ids.values())
    jobs = lib.claim_jobs(1000)
    results = cap.caption_files([j.path for j in jobs], beam_size=3)
    lib.complete_jobs([(j.job_id, r, r.model_id) for j, r in zip(jobs, results, strict=True)])
    return {j.photo_id: r.text for j, r in zip(jobs, results, strict=True)}


def test_finetune_learns_a_renamed_concept_from_corrections(
    tmp_path: Path,
    base_model: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ANNOTATOR_MODEL", raising=False)
    base, cache, original = base_model
    photos = photo_set(tmp_path / "photos", 40, seed=1)
    truth = {p: (c, s) for p, c, s in photos}
    draw_photo(tmp_path / "photos" / "nobody.jpg", "red", "circle", np.random.default_rng(9))
    with open_library(tmp_path / "library.sqlite3") as lib:
        ids = add_photos(lib, tmp_path / "photos")
        cap = Captioner.load(base, "cpu")
        model_captions = caption_with(lib, cap, ids)
        circles_said = sum("circle" in t for t in model_captions.values())
        assert circles_said >= 13, model_captions  # the base model knows circles
        for path, pid in ids.items():
            if path not in truth:
                continue  # nobody.jpg keeps its model caption
            colour, shape = truth[path]
            if shape == "circle":  # people consistently rename the concept
                lib.add_human_revision(pid, f"a {colour} disc on a white background")
            else:
                lib.add_human_revision(pid, f"a {colour} square on a white background")

        summary = export_karpathy(lib, tmp_path / "export", val_share=0.25, model=base)
    assert summary.oov == {"disc": 20}
    assert summary.val >= 5 and summary.train + summary.val == 40
    export = summary.out
    entries = load_karpathy(export)
    held_out_circles = [e for e in entries if e.split == "val" and "disc" in e.captions[0]]
    assert len(held_out_circles) >= 2

    logs: list[str] = []
    result = finetune(
        export,
        base,
        tmp_path / "ft.safetensors",
        epochs=10,
        lr=2e-3,
        batch_size=8,
        device="cpu",
        cache_dir=cache,
        library=tmp_path / "library.sqlite3",
        log=logs.append,
    )
    with capsys.disabled():  # visible with -s: the before/after table
        print("\n" + "\n".join(logs))
    assert result.lines()[-1] in logs
    before, after = result.before, result.after
    assert [p.word for p in result.new_words] == ["disc"]
    assert result.new_words[0].how == "copy" and result.new_words[0].source == ("circle",)
    assert after["BLEU-4"] > before["BLEU-4"] + 10, (before, after)
    assert after["CIDEr-D"] > before["CIDEr-D"], (before, after)
    assert before["new-word use"] == 0.0 and after["new-word use"] >= 80.0, (before, after)

    # the new model says "disc" on held-out corrected photos, and still "square" on squares
    new = Captioner.load(result.out, "cpu")
    assert "disc" in new.vocab and len(new.vocab) == len(cap.vocab) + 1
    said = new.caption_files([e.path for e in held_out_circles], beam_size=3)
    assert sum("disc" in r.words for r in said) >= len(said) - 1, [r.text for r in said]
    squares = [e.path for e in entries if e.split == "val" and "square" in e.captions[0]]
    said_sq = new.caption_files(squares, beam_size=3)
    assert all("disc" not in r.words for r in said_sq), [r.text for r in said_sq]

    # better, so installed as the default model; the library's captions are from the old one
    assert result.better and result.installed
    assert settings.default_model_path() == result.out.resolve()
    assert result.older_captions == 1  # nobody.jpg: re-captioning would update it
    ckpt = load_checkpoint(result.out)
    assert ckpt.training["finetune"]["base"] == cap.model_id
    assert ckpt.metrics["corrections_val"]["BLEU-4"] == pytest.approx(after["BLEU-4"])

    # the CLI: a model that is not better is written but not installed without --force
    settings.set_default_model(base)
    code = main(
        [
            "finetune",
            "--from",
            str(export),
            "--base",
            str(base),
            "--out",
            str(tmp_path / "ft0.safetensors"),
            "--epochs",
            "0",
            "--no-grow-vocab",
            "--device",
            "cpu",
            "--cache-dir",
            str(cache),
            "--library",
            str(tmp_path / "library.sqlite3"),
        ]
    )
    assert code == 0 and (tmp_path / "ft0.safetensors").exists()
    assert settings.default_model_path() == base.resolve()
    assert "not installed" in capsys.readouterr().out
    # --force installs it; --replay mixes in the original data and reports its val scores
    code = main(
        [
            "finetune",
            "--from",
            str(export.parent),
            "--base",
            str(base),
            "--out",
            str(tmp_path / "ft1.safetensors"),
            "--epochs",
            "1",
            "--no-grow-vocab",
            "--device",
            "cpu",
            "--cache-dir",
            str(cache),
            "--force",
            "--replay",
            str(original),
            "--replay-images",
            str(original.parent / "images"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and settings.default_model_path() == (tmp_path / "ft1.safetensors").resolve()
    assert "replay: 26 pair(s) on 26 photo(s)" in out and "replay val (4 photos)" in out
    assert "installed as the default model (forced" in out or "better than the base" in out


def test_export_without_a_val_split_is_refused(tmp_path: Path) -> None:
    from annotator.core.errors import FileOperationError

    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "filename": "/nowhere/a.jpg",
                        "split": "train",
                        "sentences": [{"raw": "a cat"}],
                    }
                ]
            }
        )
    )
    with pytest.raises(FileOperationError, match=r"export\.json.*val"):
        finetune(path, None, tmp_path / "out.safetensors")


def test_new_words_start_from_the_word_they_replaced() -> None:
    vocab = Vocab(["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "sun", "glasses", "on"])
    subs = substitutions(
        [
            (("a", "dog", "on", "a", "sofa"), ("a", "puppy", "on", "a", "sofa")),
            (("a", "dog"), ("a", "small", "puppy")),
        ]
    )
    assert subs["puppy"]["dog"] == 2 and subs["small"]["dog"] == 1  # first and last words
    counts = {"puppy": 3, "sunglasses": 2, "zebra": 2, "typo": 1}
    from collections import Counter

    plans = plan_new_words(Counter(counts), vocab, subs, min_count=2)
    assert [(p.word, p.how, p.source) for p in plans] == [
        ("puppy", "copy", ("dog",)),
        ("sunglasses", "pieces", ("sun", "glasses")),
        ("zebra", "mean", ()),
    ]
    torch.manual_seed(0)
    state = {
        "embedding.weight": torch.randn(9, 4),
        "fc.weight": torch.randn(9, 5),
        "fc.bias": torch.randn(9),
        "init_h.weight": torch.randn(5, 3),
    }
    grown, new_vocab = grow_decoder_state(state, vocab, plans)
    assert new_vocab.itos[:9] == vocab.itos and new_vocab.itos[9:] == [
        "puppy",
        "sunglasses",
        "zebra",
    ]
    assert grown["embedding.weight"].shape == (12, 4) and grown["fc.bias"].shape == (12,)
    assert torch.equal(grown["fc.weight"][9], state["fc.weight"][5])  # puppy = dog
    assert torch.allclose(
        grown["embedding.weight"][10], state["embedding.weight"][[6, 7]].mean(0)
    )  # sun + glasses
    assert torch.allclose(grown["fc.bias"][11], state["fc.bias"][4:].mean() - NEW_WORD_MARGIN)
    assert grown["init_h.weight"] is state["init_h.weight"]
    assert WordInit("puppy", 3, "copy", ("dog",)).describe() == "puppy (3x) <- dog"


def test_default_model_path_honours_the_recorded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ANNOTATOR_MODEL", raising=False)
    model = tmp_path / "mine.safetensors"
    model.write_bytes(b"x")
    (tmp_path / "data").mkdir()
    settings.settings_path().write_text(json.dumps({"theme": "dark"}))
    settings.set_default_model(model)
    assert settings.default_model_path() == model.resolve()
    assert json.loads(settings.settings_path().read_text())["theme"] == "dark"
    monkeypatch.setenv("ANNOTATOR_MODEL", str(tmp_path / "env.safetensors"))
    assert settings.default_model_path() == tmp_path / "env.safetensors"  # the env var first
    monkeypatch.delenv("ANNOTATOR_MODEL")
    model.unlink()  # a recorded model that is gone is ignored
    assert settings.default_model_path() != model.resolve()
    settings.set_default_model(None)
    assert settings.configured_default_model() is None
