"""Save and load self-describing captioner checkpoints as safetensors files.

One file holds the decoder weights (and the encoder's when they differ from the
pretrained package weights), plus metadata: model config, vocabulary, encoder name,
preprocessing preset, whether the encoder's ImageNet classifier head is usable,
training metrics and notes. Loading never unpickles anything:
pickle and ``torch.save`` files are refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from annotator.core.errors import ModelLoadError
from annotator.model.config import ModelConfig
from annotator.model.preprocess import Preprocess
from annotator.model.vocab import Vocab

FORMAT = "annotator-captioner"
FORMAT_VERSION = "1"


@dataclass
class Checkpoint:
    """The full content of a checkpoint file, in memory."""

    config: ModelConfig
    vocab: Vocab
    preprocess: Preprocess
    decoder_state: dict[str, torch.Tensor]
    encoder_state: dict[str, torch.Tensor] | None = None  # None: use the pretrained package
    name: str = "captioner"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    version: str = ""  # short content hash, filled in on load
    # Whether the encoder's ImageNet classifier head is usable; None derives it (has_head).
    encoder_head: bool | None = None

    @property
    def has_head(self) -> bool:
        """Return whether the encoder's ImageNet head gives meaningful class probabilities.

        Recorded in files written since the head was kept. For older files: the
        pretrained package weights carry their head; an included encoder state has
        one only with ``head.*`` weights and a trunk that was not fine-tuned.
        """
        if self.encoder_head is not None:
            return self.encoder_head
        if self.encoder_state is None:
            return True
        if not all(f"head.{k}" in self.encoder_state for k in ("weight", "bias")):
            return False
        cfg = self.training.get("config", {})
        return not (isinstance(cfg, dict) and cfg.get("fine_tune_encoder"))

    @property
    def model_id(self) -> str:
        """Return ``name@version``, recorded with every caption the model writes."""
        return f"{self.name}@{self.version}" if self.version else self.name


def _sniff(path: Path, head: bytes, size: int) -> str | None:
    """Return why ``head`` is not a safetensors file, or None if it looks like one."""
    if head.startswith(b"PK\x03\x04"):
        return "is a zip-based torch.save checkpoint (pickle inside)"
    if len(head) >= 9:
        # A safetensors header length may start with byte 0x80 too: check it first.
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n <= size - 8 and head[8:9] == b"{":
            return None
    if head[:1] == b"\x80":
        return "is a Python pickle"
    if len(head) < 9:
        return "is too short to be a safetensors file"
    return "is not a safetensors file"


def save_checkpoint(ckpt: Checkpoint, path: str | Path, *, half: bool = False) -> str:
    """Write ``ckpt`` to ``path`` atomically and return its version hash.

    ``half`` stores floating-point weights as float16 (they load back as float32).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, state in (("decoder.", ckpt.decoder_state), ("encoder.", ckpt.encoder_state)):
        for k, v in (state or {}).items():
            v = v.detach().cpu().contiguous()
            if half and v.is_floating_point():
                v = v.half()
            tensors[prefix + k] = v
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": ckpt.name,
        "config": json.dumps(ckpt.config.to_dict()),
        "vocab": json.dumps(ckpt.vocab.itos, ensure_ascii=False),
        "preprocess": json.dumps(ckpt.preprocess.to_dict()),
        "metrics": json.dumps(ckpt.metrics),
        "training": json.dumps(ckpt.training),
        "encoder_weights": "included" if ckpt.encoder_state else "pretrained-package",
        "encoder_head": "imagenet-1k" if ckpt.has_head else "none",
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    ckpt.version = file_version(path)
    return ckpt.version


def file_version(path: str | Path) -> str:
    """Return the first 12 hex digits of the file's SHA-256."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def read_metadata(path: str | Path) -> dict[str, str]:
    """Return a checkpoint's metadata without loading its tensors."""
    from safetensors import safe_open

    path = _check_file(Path(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(path, f"unreadable safetensors file: {exc}") from exc


def read_preprocess(path: str | Path) -> Preprocess:
    """Return a checkpoint's preprocessing preset without loading its tensors."""
    path = Path(path)
    return Preprocess.from_dict(_json_field(read_metadata(path), "preprocess", dict, path))


def _check_file(path: Path) -> Path:
    if not path.exists():
        raise ModelLoadError(path, "checkpoint file not found")
    if not path.is_file():
        raise ModelLoadError(path, "checkpoint path is not a file")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(9)
    why = _sniff(path, head, size)
    if why:
        raise ModelLoadError(
            path,
            f"refusing to load: the file {why}. annotator loads only safetensors "
            "checkpoints, which cannot run code. If you trust a reference-tutorial "
            "checkpoint, convert it with `annotator import-checkpoint`.",
        )
    return path


def _json_field(
    meta: dict[str, str], key: str, kind: type, path: Path, default: str | None = None
) -> Any:
    """Return the JSON value of metadata ``key``, which must be a ``kind`` (dict or list)."""
    raw = meta.get(key, default)
    if raw is None:
        raise ModelLoadError(path, f"corrupt checkpoint: no {key!r} in its metadata")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ModelLoadError(path, f"corrupt checkpoint: {key!r} is not JSON ({exc})") from exc
    if not isinstance(value, kind):
        raise ModelLoadError(
            path,
            f"corrupt checkpoint: {key!r} must be a JSON "
            f"{'object' if kind is dict else 'list'}, not {type(value).__name__}",
        )
    return value


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint without executing any pickled code."""
    path = _check_file(Path(path))
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelLoadError(
            path, f"not an annotator captioner checkpoint (format={meta.get('format')!r})"
        )
    try:
        tensors = load_file(str(path), device="cpu")
        config = ModelConfig.from_dict(_json_field(meta, "config", dict, path))
        vocab = Vocab(_json_field(meta, "vocab", list, path))
        preprocess = Preprocess.from_dict(_json_field(meta, "preprocess", dict, path))
        metrics = _json_field(meta, "metrics", dict, path, default="{}")
        training = _json_field(meta, "training", dict, path, default="{}")
    except (SafetensorError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelLoadError(path, f"corrupt checkpoint: {exc}") from exc
    dec, enc = {}, {}
    for k, v in tensors.items():
        v = v.float() if v.is_floating_point() else v
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ModelLoadError(
                path, f"corrupt checkpoint: the weights {k} hold NaN or infinite values"
            )
        if k.startswith("decoder."):
            dec[k[len("decoder.") :]] = v
        elif k.startswith("encoder."):
            enc[k[len("encoder.") :]] = v
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(
            path, f"vocabulary has {len(vocab)} words but the config says {config.vocab_size}"
        )
    head = meta.get("encoder_head")
    return Checkpoint(
        config=config,
        vocab=vocab,
        preprocess=preprocess,
        decoder_state=dec,
        encoder_state=enc or None,
        name=meta.get("name", path.stem),
        metrics=metrics,
        training=training,
        version=file_version(path),
        encoder_head=None if head is None else head == "imagenet-1k",
    )
