"""ONNX Runtime encoder: agreement with PyTorch, int8, the export cache, engine choice."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from annotator.core.errors import ModelLoadError
from annotator.core.types import CaptionResult
from annotator.model.preprocess import load_image

pytest.importorskip("onnxruntime", reason="the ONNX Runtime engine needs onnxruntime")

from annotator.model.runtime.cache import ModelCache, is_intact
from annotator.model.runtime.engine import resolve_engine
from annotator.model.runtime.session import OnnxEncoder

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "resources" / "samples").glob("*.jpg"))


def _images(captioner) -> torch.Tensor:
    return torch.stack([load_image(p, captioner.preprocess).tensor for p in SAMPLES])


def _cache(captioner, root: Path) -> ModelCache:
    return ModelCache(captioner.encoder, 260, captioner.ckpt.version, root)


def _copy_cache(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_exported_encoder_agrees_with_pytorch(shipped_torch, onnx_root: Path) -> None:
    images = _images(shipped_torch)  # (5, 3, 260, 260)
    onnx = OnnxEncoder(_cache(shipped_torch, onnx_root), "fp32")
    with torch.inference_mode():
        ref = shipped_torch.encoder(images)  # (5, 81, 1280)
    got = onnx(images)
    assert got.shape == ref.shape == (len(SAMPLES), 81, 1280)
    assert (got - ref).abs().max().item() < 1e-4
    assert ref.abs().max().item() > 1.0  # real activations, not an all-zero grid

    assert shipped_torch.encoder.has_head and onnx.has_head
    with torch.inference_mode():
        ref_grid, ref_logits = shipped_torch.encoder.features_and_logits(images)  # (5, 1000)
    grid, logits = onnx.features_and_logits(images)
    assert (grid - ref_grid).abs().max().item() < 1e-4
    assert logits.shape == ref_logits.shape == (len(SAMPLES), 1000)
    assert (logits - ref_logits).abs().max().item() < 1e-3  # logits reach about 10-20
    assert torch.equal(logits.argmax(1), ref_logits.argmax(1))


def test_int8_model_loads_and_captions(shipped_torch, onnx_root: Path) -> None:
    from annotator.model.captioner import Captioner

    fp32 = OnnxEncoder(_cache(shipped_torch, onnx_root), "fp32")
    int8 = OnnxEncoder(_cache(shipped_torch, onnx_root), "int8")
    assert int8.path != fp32.path and int8.path.stat().st_size < fp32.path.stat().st_size / 2
    images = _images(shipped_torch)
    a, b = fp32(images).flatten(1), int8(images).flatten(1)  # (5, P*C)
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=1)  # (5,)
    assert cosine.min().item() > 0.9, cosine

    cap = Captioner(shipped_torch.ckpt, "cpu", engine="onnx", precision="int8")
    cap._onnx = int8  # the session-scoped export, not the user's cache
    results = cap.caption_files(SAMPLES, beam_size=3)
    assert all(isinstance(r, CaptionResult) for r in results)
    for r in results:
        assert 3 <= len(r.words) <= 20 and "<unk>" not in r.words
        assert r.attention.shape == (len(r.words), 9, 9)
    camera = results[[p.stem for p in SAMPLES].index("camera")]
    assert {"camera", "tripod"} & set(camera.words), camera.text


def test_cache_is_rebuilt_when_the_checkpoint_or_encoder_changes(
    shipped_torch, onnx_root: Path, tmp_path: Path
) -> None:
    root = _copy_cache(onnx_root, tmp_path / "cache")
    same = _cache(shipped_torch, root)
    assert same.get("fp32") == same.path("fp32")  # reused: no export
    other_version = ModelCache(shipped_torch.encoder, 260, "0123456789ab", root)
    assert other_version.path("fp32") != same.path("fp32")
    assert not other_version.path("fp32").exists()

    from annotator.model.encoder import Encoder

    tuned = Encoder("efficientnet-lite2").eval()
    with torch.no_grad():
        tuned.trunk.net._conv_head.weight.mul_(1.01)  # a fine-tuned encoder, same checkpoint id
    changed = ModelCache(tuned, 260, shipped_torch.ckpt.version, root)
    assert changed.path("fp32") != same.path("fp32")
    built = changed.get("fp32")
    assert is_intact(built) and is_intact(same.path("fp32"))
    x = _images(shipped_torch)[:1]
    with torch.inference_mode():
        assert (OnnxEncoder(changed, "fp32")(x) - tuned(x)).abs().max().item() < 1e-4


@pytest.mark.parametrize("damage", ["truncated", "garbage-with-valid-manifest"])
def test_corrupt_cached_model_is_exported_again(
    shipped_torch, onnx_root: Path, tmp_path: Path, damage: str
) -> None:
    root = _copy_cache(onnx_root, tmp_path / "cache")
    cache = _cache(shipped_torch, root)
    path = cache.path("fp32")
    if damage == "truncated":  # a crash mid-write: the manifest no longer matches
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:  # bytes that match their manifest but are not a model
        from annotator.model.runtime.cache import seal

        path.write_bytes(b"not an onnx model")
        seal(path)
    onnx = OnnxEncoder(cache, "fp32")  # no crash: exported again
    assert is_intact(path) and path.stat().st_size > 1_000_000
    x = _images(shipped_torch)[:2]
    with torch.inference_mode():
        assert (onnx(x) - shipped_torch.encoder(x)).abs().max().item() < 1e-4


def test_int8_without_calibration_is_refused_clearly(shipped_torch, tmp_path: Path) -> None:
    cache = ModelCache(
        shipped_torch.encoder, 260, "v", tmp_path / "cache", calibration_dir=tmp_path / "none"
    )
    with pytest.raises(ModelLoadError, match="no int8 calibration"):
        cache.get("int8")


def test_engine_choice() -> None:
    cpu = torch.device("cpu")
    assert resolve_engine("auto", "fp32", cpu).engine == "onnx"
    assert resolve_engine("torch", "auto", cpu).engine == "torch"
    assert resolve_engine("onnx", "int8", cpu).precision == "int8"
    with pytest.raises(ModelLoadError, match="int8 needs the ONNX Runtime engine"):
        resolve_engine("torch", "int8", cpu)
    with pytest.raises(ValueError, match="unknown engine"):
        resolve_engine("tensorrt", "fp32", cpu)


BLOCK_ORT = (
    "import sys; sys.modules['onnxruntime'] = None; sys.modules['onnx'] = None; "
    "from annotator.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _cli_without_onnxruntime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_ORT, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )


def test_torch_engine_works_without_onnxruntime(tiny_model: Path) -> None:
    photo = str(SAMPLES[0])
    for engine in ("torch", "auto"):  # auto falls back to PyTorch
        done = _cli_without_onnxruntime(
            "caption", photo, "--model", str(tiny_model), "--engine", engine, "--json"
        )
        assert done.returncode == 0, done.stderr
        assert '"caption"' in done.stdout
    refused = _cli_without_onnxruntime(
        "caption", photo, "--model", str(tiny_model), "--engine", "onnx"
    )
    assert refused.returncode != 0
    assert "onnxruntime is not installed" in refused.stderr


def test_onnx_and_torch_engines_give_the_same_captions(shipped_torch, onnx_root: Path) -> None:
    from annotator.model.captioner import Captioner

    onnx = Captioner(shipped_torch.ckpt, "cpu", engine="onnx", precision="fp32")
    onnx._onnx = OnnxEncoder(_cache(shipped_torch, onnx_root), "fp32")
    a = shipped_torch.caption_files(SAMPLES, beam_size=3)
    b = onnx.caption_files(SAMPLES, beam_size=3)
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, CaptionResult) and isinstance(y, CaptionResult)
        assert x.words == y.words
        assert abs(x.score - y.score) < 1e-3


def test_cache_keeps_only_the_most_recently_used_models(tmp_path: Path) -> None:
    import os

    from annotator.model.runtime.cache import prune, seal

    for i in range(10):
        p = tmp_path / f"m{i}.onnx"
        p.write_bytes(b"x" * (i + 1))
        seal(p)
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
    prune(tmp_path, keep=8)
    left = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert left == [f"m{i}.onnx" for i in range(2, 10)]
    assert sorted(p.name for p in tmp_path.glob("*.sha256")) == [f"{n}.sha256" for n in left]


def test_auto_precision_is_int8_only_where_calibrated(shipped_torch, tiny_model: Path) -> None:
    from annotator.model.captioner import Captioner
    from annotator.model.runtime.engine import DEFAULT_CPU_PRECISION

    shipped = Captioner(shipped_torch.ckpt, "cpu")  # auto engine, auto precision
    assert shipped.engine.engine == "onnx"
    assert shipped.engine.precision == DEFAULT_CPU_PRECISION
    uncalibrated = Captioner.load(tiny_model, "cpu")  # random-decoder test model on lite0
    assert uncalibrated.engine.precision == "fp32"
    if DEFAULT_CPU_PRECISION == "int8":
        assert "no int8 calibration" in uncalibrated.engine.note
    assert Captioner(shipped_torch.ckpt, "cpu", precision="fp32").engine.precision == "fp32"


def test_the_encoder_uses_the_threads_it_is_given(shipped_torch, onnx_root: Path) -> None:
    from annotator.model.captioner import Captioner
    from annotator.model.runtime.engine import cpu_threads

    for threads, expected in ((1, 1), (None, cpu_threads())):
        cap = Captioner(shipped_torch.ckpt, "cpu", engine="onnx", precision="fp32", threads=threads)
        cap._cache = _cache(shipped_torch, onnx_root)  # the session-scoped export
        onnx = cap.onnx_encoder()
        assert onnx is not None
        assert onnx.session.get_session_options().intra_op_num_threads == expected
