from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.model.captioner import Captioner
from annotator.model.encoder import Encoder
from annotator.model.preprocess import Preprocess
from annotator.model.vocab import Vocab
from annotator.train.dataset import encode_captions, load_karpathy
from annotator.train.evaluate import evaluate, format_table
from annotator.train.features import (
    cache_key,
    cached_features,
    compute_features,
    encoder_weights_id,
)
from annotator.train.loop import TrainConfig, bucketed_batches, train
from annotator.train.metrics import bleu4, score_captions


def test_tiny_training_lowers_the_loss_and_writes_a_usable_checkpoint(
    tmp_path: Path,
    make_shapes_dataset: Callable[..., Path],
    tiny_config: Callable[..., TrainConfig],
) -> None:
    ds = make_shapes_dataset(tmp_path, prefix="img")
    out = tmp_path / "run" / "model.safetensors"
    cfg = tiny_config(ds, out, tmp_path / "cache", 6, patience=10, name="synthetic")
    logs: list[str] = []
    result = train(cfg, log=logs.append)
    losses = [h["train_loss"] for h in result["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.85, losses
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert sum("epoch" in line and "val BLEU-4" in line for line in logs) == 6
    assert out.exists() and Path(result["last"]).exists() and Path(result["plot"]).exists()
    cap = Captioner.load(out, "cpu")
    assert cap.ckpt.training["config"]["encoder"] == "efficientnet-lite0"
    assert "val_bleu4" in cap.ckpt.metrics
    res = cap.caption_files([tmp_path / "img00.jpg"], beam_size=3)[0]
    assert res.words and set(res.words) <= set(cap.vocab.itos)

    # evaluation decodes like the captioner (repetition control) and counts its rules
    ev = evaluate(
        result["best"],
        ds,
        split="val",
        beam_sizes=[1, 3],
        device="cpu",
        workers=0,
        cache_dir=tmp_path / "cache",
        meteor=False,
        progress=False,
    )
    assert ev["repetition_control"] is True and set(ev["beams"]) == {"1", "3"}
    for row in ev["beams"].values():
        assert row["repeated"] == 0 and row["function end"] == 0 and 0 < row["distinct"] <= 100
    assert "| 3 |" in format_table(ev) and "repetition control on" in format_table(ev)

    # resume continues from the last epoch with the optimiser state
    cfg.epochs, cfg.resume = 7, result["last"]
    again = train(cfg, log=logs.append)
    assert [h["epoch"] for h in again["history"]] == [1, 2, 3, 4, 5, 6, 7]
    assert any("resumed from epoch 6" in line for line in logs)


def test_feature_cache_is_keyed_by_encoder_weights_and_preprocessing(
    tmp_path: Path, make_shapes_dataset: Callable[..., Path]
) -> None:
    make_shapes_dataset(tmp_path, n=4, prefix="img")
    paths = sorted(tmp_path.glob("img*.jpg"))
    cache = tmp_path / "cache"
    lite0 = Encoder("efficientnet-lite0")
    pre0 = Preprocess.for_encoder("efficientnet-lite0")
    f0 = cached_features(lite0, pre0, paths, cache, workers=0, progress=False)
    assert f0.shape == (4, 49, 1280) and f0.dtype == np.float16
    assert len(list(cache.glob("*.npy"))) == 1
    again = cached_features(lite0, pre0, paths, cache, workers=0, progress=False)
    assert np.array_equal(again, f0) and len(list(cache.glob("*.npy"))) == 1
    lite1 = Encoder("efficientnet-lite1")
    f1 = cached_features(
        lite1, Preprocess.for_encoder("efficientnet-lite1"), paths, cache, workers=0, progress=False
    )
    assert f1.shape == (4, 64, 1280) and len(list(cache.glob("*.npy"))) == 2
    # fine-tuned weights or another preset give another key
    k0 = cache_key(lite0.name, encoder_weights_id(lite0), pre0, paths)
    with torch.no_grad():
        next(lite0.parameters()).add_(0.01)
    assert cache_key(lite0.name, encoder_weights_id(lite0), pre0, paths) != k0
    other = Preprocess(pre0.image_size, pre0.mean, pre0.std, resample="bilinear")
    assert cache_key(lite0.name, "w", other, paths) != cache_key(lite0.name, "w", pre0, paths)


def test_feature_cache_from_onnx_runtime_equals_pytorch_features(
    tmp_path: Path, make_shapes_dataset: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime", reason="the ONNX engine needs onnxruntime")
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(tmp_path / "xdg"))
    make_shapes_dataset(tmp_path, n=3, prefix="img")
    paths = sorted(tmp_path.glob("img*.jpg"))
    lite0 = Encoder("efficientnet-lite0")
    pre0 = Preprocess.for_encoder("efficientnet-lite0")
    kw: dict[str, Any] = dict(workers=0, progress=False)
    by_torch = compute_features(lite0, pre0, paths, tmp_path / "t.npy", engine="torch", **kw)
    by_onnx = compute_features(lite0, pre0, paths, tmp_path / "o.npy", engine="onnx", **kw)
    assert by_onnx.shape == by_torch.shape == (3, 49, 1280)
    diff = np.abs(by_onnx.astype(np.float32) - by_torch.astype(np.float32))
    scale = np.abs(by_torch.astype(np.float32)).max()
    assert diff.max() <= 2e-3 * max(1.0, float(scale))  # float16 rounding, not engine error
    assert list((tmp_path / "xdg").rglob("*.onnx")), "the ONNX export is cached per weights"


def test_karpathy_reader_handles_coco_paths_restval_and_raw_only(tmp_path: Path) -> None:
    path = tmp_path / "coco.json"
    path.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "filepath": "val2014",
                        "filename": "a.jpg",
                        "split": "restval",
                        "sentences": [{"tokens": ["a", "cat"], "raw": "A cat."}],
                    },
                    {
                        "filename": "b.jpg",
                        "split": "test",
                        "sentences": [{"raw": "Two dogs, running!"}],
                    },
                ]
            }
        )
    )
    a, b = load_karpathy(path, tmp_path / "imgs")
    assert a.split == "train" and a.path == tmp_path / "imgs" / "val2014" / "a.jpg"
    assert b.captions == (("two", "dogs", "running"),)
    ids, lens = encode_captions(
        [a, b],
        Vocab(["<pad>", "<start>", "<end>", "<unk>", "a", "cat"]),
        captions_per_image=2,
        max_len=4,
    )
    assert ids.shape == (2, 2, 6) and lens.tolist() == [[4, 4], [5, 5]]
    assert ids[1, 0].tolist() == [1, 3, 3, 3, 2, 0]


def test_bucketed_batches_cover_every_caption_once_with_similar_lengths() -> None:
    lengths = torch.randint(5, 30, (1000,))
    batches = bucketed_batches(lengths, 32, seed=1, bucket=10)
    flat = torch.cat(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = [int(lengths[b].max() - lengths[b].min()) for b in batches]
    assert np.mean(spread) < 5


def test_metrics_on_a_hand_checked_example() -> None:
    refs = {"1": ["a dog runs fast"], "2": ["a red car"]}
    # BLEU-1 of "a dog runs" vs "a dog runs fast": precision 1, brevity penalty exp(1 - 7/6)
    # over the corpus (c = 3 + 3 = 6, r = 4 + 3 = 7); exp(-1/6) = 0.8465
    s = score_captions({"1": "a dog runs", "2": "a red car"}, refs, meteor=False, ptb=False)
    assert s["BLEU-1"] == pytest.approx(84.65, abs=0.05)
    # ROUGE-L per photo: LCS 3, P = 1, R = 3/4, beta 1.2 -> 0.8356; photo 2 is exact -> 1
    assert s["ROUGE-L"] == pytest.approx(100 * (0.8356 + 1.0) / 2, abs=0.05)
    perfect = score_captions(
        {"1": "a dog runs fast", "2": "a red car"}, refs, meteor=False, ptb=False
    )
    assert perfect["BLEU-4"] == pytest.approx(100.0, abs=1e-3)
    wrong = score_captions(
        {"1": "a red car", "2": "a dog runs fast"}, refs, meteor=False, ptb=False
    )
    assert wrong["CIDEr-D"] < s["CIDEr-D"] < perfect["CIDEr-D"]
    assert bleu4({"1": "a dog runs fast", "2": "a red car"}, refs) == pytest.approx(100.0, abs=1e-3)
    assert "note" in s and "tokenis" in s["note"]


def test_glove_vectors_initialise_the_embedding(tmp_path: Path) -> None:
    from annotator.train.loop import load_glove

    vocab = Vocab(["<pad>", "<start>", "<end>", "<unk>", "dog", "cat", "zebra"])
    glove = tmp_path / "glove.txt"
    glove.write_text("dog 0.5 -1.0 2.0\ncat 1.5 0.25 -3.0\nthe 9 9 9\n", encoding="utf-8")
    weights, found = load_glove(glove, vocab, dim=3)
    assert found == 2 and weights.shape == (7, 3)
    assert weights[vocab.stoi["dog"]].tolist() == [0.5, -1.0, 2.0]
    assert weights[vocab.stoi["cat"]].tolist() == [1.5, 0.25, -3.0]
    assert weights[vocab.stoi["zebra"]].abs().max() <= 0.1  # not in the file: small random
    with pytest.raises(ValueError, match="dimensions"):
        load_glove(glove, vocab, dim=5)
