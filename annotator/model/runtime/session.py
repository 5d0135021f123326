"""Run a cached ONNX encoder with ONNX Runtime: images (B, 3, S, S) -> features (B, P, C)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.core.errors import ModelLoadError
from annotator.model.runtime.cache import ModelCache, discard
from annotator.model.runtime.engine import cpu_threads
from annotator.model.runtime.export import FEATURES, INPUT, LOGITS

log = logging.getLogger(__name__)


def make_session(path: Path, provider: str, threads: int | None = None) -> Any:
    """Open an ONNX Runtime session on ``provider`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or cpu_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # Decode threads share the cores: idle ORT threads must not spin on them.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = (
        [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    )
    return ort.InferenceSession(str(path), so, providers=providers)


class OnnxEncoder:
    """An encoder running in ONNX Runtime, built from (and cached for) a torch Encoder."""

    def __init__(
        self,
        cache: ModelCache,
        precision: str = "fp32",
        provider: str = "CPUExecutionProvider",
        threads: int | None = None,
    ) -> None:
        self.cache = cache
        self.precision = precision
        self.provider = provider
        self.path = cache.get(precision)
        try:
            self.session = make_session(self.path, provider, threads)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for bad files
            log.warning(
                "%s: cannot open the cached encoder (%s); exporting it again", self.path, exc
            )
            discard(self.path)
            self.path = cache.get(precision, rebuild=True)
            self.session = make_session(self.path, provider, threads)
        self.outputs = [o.name for o in self.session.get_outputs()]
        if self.outputs[0] != FEATURES:
            raise ModelLoadError(self.path, f"unexpected ONNX outputs {self.outputs}")
        self.has_head = LOGITS in self.outputs
        self._lock = threading.Lock()

    def _run(self, images: torch.Tensor, names: list[str]) -> list[np.ndarray]:
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()  # (B, 3, S, S)
        with self._lock:  # one run at a time: each run already uses every core
            outputs: list[np.ndarray] = self.session.run(names, {INPUT: x})
            return outputs

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images (B, 3, S, S) into features (B, P, C) on the CPU."""
        (features,) = self._run(images, [FEATURES])
        return torch.from_numpy(features)  # (B, P, C)

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return features (B, P, C) and ImageNet logits (B, K), or None without a head."""
        if not self.has_head:
            return self(images), None
        features, logits = self._run(images, [FEATURES, LOGITS])
        return torch.from_numpy(features), torch.from_numpy(logits)  # (B, P, C), (B, K)
