"""Hostile checkpoints fail with a clear error naming the file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from annotator.core.errors import ModelLoadError
from annotator.model.checkpoint import load_checkpoint


def rewrite(
    src: Path, dest: Path, *, meta: dict[str, str] | None = None, nan: bool = False
) -> Path:
    """Copy a checkpoint with some metadata replaced, or with one weight set to NaN."""
    with safe_open(str(src), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        metadata = dict(f.metadata() or {})
    if nan:
        name = next(
            k for k, v in tensors.items() if k.startswith("decoder.") and v.is_floating_point()
        )
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")
    metadata.update(meta or {})
    save_file(tensors, str(dest), metadata=metadata)
    return dest


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"config": json.dumps([1, 2, 3])}, "'config' must be a JSON object, not list"),
        ({"metrics": "{not json"}, "'metrics' is not JSON"),
        ({"vocab": json.dumps({"a": 1})}, "'vocab' must be a JSON list"),
    ],
)
def test_bad_metadata_is_a_clear_error(
    tiny_model: Path, tmp_path: Path, meta: dict[str, str], message: str
) -> None:
    bad = rewrite(tiny_model, tmp_path / "bad.safetensors", meta=meta)
    with pytest.raises(ModelLoadError, match=message) as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value)


def test_non_finite_weights_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    bad = rewrite(tiny_model, tmp_path / "nan.safetensors", nan=True)
    with pytest.raises(ModelLoadError, match="NaN or infinite"):
        load_checkpoint(bad)
    assert load_checkpoint(tiny_model).config is not None
