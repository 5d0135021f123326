"""Run the encoder through ONNX Runtime: export, cache, int8 quantization, sessions.

PyTorch stays the training path; this package turns a checkpoint's encoder into an
ONNX graph (feature grid, plus the ImageNet logits when the encoder keeps its head),
caches it per checkpoint version and encoder weights in the user cache directory, and
runs it on the CPU execution provider (or CUDA with ``onnxruntime-gpu``).
"""

from __future__ import annotations

from annotator.model.runtime.engine import (
    ENGINES,
    PRECISIONS,
    EngineChoice,
    onnxruntime_available,
    resolve_engine,
)

__all__ = ["ENGINES", "PRECISIONS", "EngineChoice", "onnxruntime_available", "resolve_engine"]
