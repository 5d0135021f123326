"""Export an encoder's inference graph to ONNX from the checkpoint's weights."""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from annotator.core.errors import ModelLoadError
from annotator.model.encoder import Encoder

log = logging.getLogger(__name__)

OPSET = 17
INPUT = "images"
FEATURES = "features"
LOGITS = "logits"


def has_head(encoder: Encoder) -> bool:
    """Return whether the encoder keeps its ImageNet classifier head."""
    return bool(getattr(encoder, "has_head", False))


class EncoderGraph(nn.Module):
    """The traced graph: images (B, 3, S, S) -> features (B, P, C) [, logits (B, K)]."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.with_head = has_head(encoder)

    def forward(
        self, images: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Return the feature grid, and the logits when the encoder has a head."""
        if self.with_head:
            features, logits = self.encoder.features_and_logits(images)  # (B, P, C), (B, K)
            return features, logits
        grid: torch.Tensor = self.encoder(images)  # (B, P, C)
        return grid


def output_names(encoder: Encoder) -> list[str]:
    """Return the graph's output names for this encoder."""
    return [FEATURES, LOGITS] if has_head(encoder) else [FEATURES]


def weights_id(encoder: Encoder) -> str:
    """Return a 16-hex-digit hash of the encoder's weights (head included)."""
    h = hashlib.sha256()
    for k, v in sorted(encoder.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def simplify_graph(src: Path, dst: Path) -> None:
    """Fold constants and the static "same" padding into the convolutions (ORT basic level).

    The exporter writes each EfficientNet-Lite padding as a chain of shape ops and a
    ``Pad``; folding them into ``Conv`` pads lets int8 convolutions run without
    dequantizing around every padding. Basic-level rewrites work on every provider.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])


def export_encoder(encoder: Encoder, out: str | Path, image_size: int) -> Path:
    """Write the encoder's fp32 inference graph with a dynamic batch axis to ``out``.

    The file is written under a temporary name and renamed, so a reader never sees a
    half-written model.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_name(f"{out.name}.{os.getpid()}.raw.tmp")
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    was_training = encoder.training
    graph = EncoderGraph(encoder).eval()
    names = output_names(encoder)
    example = torch.zeros(2, 3, image_size, image_size)  # (B, 3, S, S)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                (example,),
                str(raw),
                input_names=[INPUT],
                output_names=names,
                dynamic_axes={n: {0: "batch"} for n in [INPUT, *names]},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        simplify_graph(raw, tmp)
        tmp.replace(out)
    except Exception as exc:
        raise ModelLoadError(out, f"cannot export {encoder.name} to ONNX: {exc}") from exc
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
        encoder.train(was_training)
    log.info("exported %s to %s", encoder.name, out)
    return out
