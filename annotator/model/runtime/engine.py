"""Choose the inference engine (PyTorch or ONNX Runtime) and precision for a device."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from annotator.core.errors import ModelLoadError

ENGINES = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "int8")
# What ``--precision auto`` means on the CPU execution provider when the encoder's
# weights have shipped int8 calibration ranges (else fp32). int8 is the default because
# it kept caption quality (docs/performance.md: Flickr8k test CIDEr-D +0.01, BLEU-4
# +0.17, ImageNet top-1 agreement 97.2 % against fp32).
DEFAULT_CPU_PRECISION = "int8"


@dataclass(frozen=True)
class EngineChoice:
    """The engine and precision the encoder runs with, and why when it differs from asked."""

    engine: str  # torch or onnx
    precision: str  # fp32 or int8
    provider: str = ""  # the ONNX Runtime execution provider; "" for torch
    note: str = ""


def onnxruntime_available() -> bool:
    """Return whether ``onnxruntime`` (or ``onnxruntime-gpu``) can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_provider_available() -> bool:
    """Return whether ONNX Runtime has the CUDA execution provider (``onnxruntime-gpu``)."""
    if not onnxruntime_available():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def cpu_threads() -> int:
    """Return the number of CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_engine(engine: str, precision: str, device: torch.device) -> EngineChoice:
    """Resolve ``auto`` choices for ``device``; refuse combinations that cannot run.

    ``auto`` picks ONNX Runtime when it is installed (CUDA provider on a GPU, else the
    CPU provider); on a GPU without ``onnxruntime-gpu`` it picks PyTorch on the GPU.
    int8 runs only on the CPU provider. On the CPU provider ``auto`` precision stays
    ``auto``: :func:`choose_precision` settles it once the encoder's weights are known.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if engine == "torch":
        if precision == "int8":
            raise ModelLoadError("--precision int8", "int8 needs the ONNX Runtime engine")
        return EngineChoice("torch", "fp32")
    has_ort = onnxruntime_available()
    if engine == "onnx" and not has_ort:
        raise ModelLoadError(
            "--engine onnx", "onnxruntime is not installed (pip install onnxruntime)"
        )
    if device.type == "cpu":
        if not has_ort:
            if precision == "int8":
                raise ModelLoadError(
                    "--precision int8", "int8 needs onnxruntime (pip install onnxruntime)"
                )
            return EngineChoice("torch", "fp32", note="onnxruntime is not installed")
        return EngineChoice("onnx", precision, "CPUExecutionProvider")
    if device.type == "cuda" and cuda_provider_available():
        note = "int8 runs on the CPU only; using fp32 on CUDA" if precision == "int8" else ""
        return EngineChoice("onnx", "fp32", "CUDAExecutionProvider", note)
    if precision == "int8":
        raise ModelLoadError("--precision int8", f"int8 runs on the CPU only, not on {device}")
    why = "onnxruntime-gpu is not installed" if device.type == "cuda" else "no ONNX provider"
    return EngineChoice("torch", "fp32", note=f"PyTorch on {device}: {why}")


def choose_precision(choice: EngineChoice, calibrated: bool) -> EngineChoice:
    """Settle ``auto`` precision: the CPU default when int8 ranges exist, else fp32."""
    if choice.precision != "auto":
        return choice
    if DEFAULT_CPU_PRECISION == "int8" and not calibrated:
        return replace(choice, precision="fp32", note="no int8 calibration for this encoder")
    return replace(choice, precision=DEFAULT_CPU_PRECISION)
