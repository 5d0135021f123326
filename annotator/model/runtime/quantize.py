"""Static int8 quantization (QDQ, per-channel weights) from shipped calibration ranges.

The activation ranges are measured once at development time on a few hundred real
photos (``python -m annotator.train.calibrate``) and shipped as a small JSON
file per encoder weights; the int8 model is then rebuilt from the fp32 export and
these ranges on the user's machine, without any photo.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.core.errors import ModelLoadError

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
# The recipe: QDQ format, per-channel int8 weights, uint8 activations, MinMax ranges.
RECIPE = {
    "format": "QDQ",
    "per_channel": True,
    "reduce_range": False,
    "weights": "QInt8",
    "activations": "QUInt8",
    "calibration": "MinMax",
}


def calibration_file(encoder_name: str, weights: str, directory: Path | None = None) -> Path:
    """Return where the calibration ranges for these encoder weights are kept."""
    return (directory or CALIBRATION_DIR) / f"{encoder_name}-{weights}.json"


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Silence ONNX Runtime's quantization advice logged at WARNING level."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_options() -> dict[str, Any]:
    """Return the keyword arguments of ``quantize_static`` for the recipe."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    return {
        "quant_format": QuantFormat.QDQ,
        "per_channel": RECIPE["per_channel"],
        "reduce_range": RECIPE["reduce_range"],
        "weight_type": QuantType.QInt8,
        "activation_type": QuantType.QUInt8,
        "calibrate_method": CalibrationMethod.MinMax,
    }


def check_ranges(model: Path, ranges: Path) -> None:
    """Refuse calibration ranges that were measured on a differently exported graph."""
    import json

    import onnx

    if not ranges.is_file():
        raise ModelLoadError(ranges, "no int8 calibration for this encoder")
    try:
        names = set(json.loads(ranges.read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(ranges, f"unreadable calibration ranges: {exc}") from exc
    graph = onnx.load(str(model), load_external_data=False).graph
    tensors = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    convs = {n.output[0] for n in graph.node if n.op_type == "Conv"}
    missing = sorted((names - tensors) | (convs - names))
    if missing:
        raise ModelLoadError(
            ranges,
            f"calibration ranges do not match the exported graph ({len(missing)} tensors "
            f"differ, e.g. {missing[0]!r}); calibrate again or use --precision fp32",
        )


def quantize_encoder(fp32: Path, out: Path, ranges: Path, reader: object | None = None) -> Path:
    """Quantize the fp32 graph ``fp32`` into ``out`` with the activation ranges in ``ranges``.

    With a calibration ``reader`` (an ORT ``CalibrationDataReader``) the ranges are
    measured and written to ``ranges`` first; without one ``ranges`` must exist.
    """
    from onnxruntime.quantization import quantize_static

    if reader is None:
        check_ranges(fp32, ranges)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        with _quiet_quantizer():
            quantize_static(
                str(fp32),
                str(tmp),
                calibration_data_reader=reader,
                calibration_cache_path=str(ranges),
                **quantize_options(),
            )
        tmp.replace(out)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(out, f"cannot quantize the encoder to int8: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out
