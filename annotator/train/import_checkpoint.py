"""Convert a checkpoint of the reference tutorial into annotator's safetensors format.

The reference is sgrvinod's "a-PyTorch-Tutorial-to-Image-Captioning". Its training
script saves ``torch.save({'epoch', 'epochs_since_improvement', 'bleu-4', 'encoder',
'decoder', 'encoder_optimizer', 'decoder_optimizer'})`` where ``encoder`` and
``decoder`` are whole module objects (classes ``models.Encoder``,
``models.DecoderWithAttention``, ``models.Attention``). Restoring such objects means
unpickling, and a pickle can run arbitrary code, so it happens only when the caller
says the file is trusted (``trust_pickle=True``); the tutorial's own code is not
needed, because stand-in classes take the place of its ``models`` module.

Plain state-dict files (the decoder's state dict, or ``{'encoder': sd, 'decoder': sd}``)
load with ``torch.load(weights_only=True)``, which cannot run code, and need no trust.

The decoder's parameter names already match :class:`annotator.model.decoder.Decoder`;
the dimensions are read from the weight shapes. The tutorial's encoder is a torchvision
ResNet without its last two children (``resnet.*``, mapped onto our ``trunk.*``),
average-pooled to 14 x 14, fed 256 x 256 photos resized without cropping and
normalised with the ImageNet statistics. The word map (``WORDMAP_*.json``, word ->
index, ``<pad>`` = 0) becomes the vocabulary in index order.
"""

from __future__ import annotations

import json
import math
import pickle
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from annotator.core.errors import ModelLoadError
from annotator.model.checkpoint import Checkpoint, save_checkpoint
from annotator.model.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, encoder_spec
from annotator.model.preprocess import Preprocess
from annotator.model.vocab import Vocab

REFERENCE = "sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning"
TUTORIAL_GRID = (14, 14)  # the tutorial's encoded_image_size
TUTORIAL_IMAGE_SIZE = 256  # photos resized (not cropped) to 256 x 256
TUTORIAL_RESAMPLE = "bilinear"  # scipy.misc.imresize's default interpolation
TUTORIAL_MAX_LEN = 50  # the tutorial's caption.py stops after 50 words
TUTORIAL_ENCODER = "resnet101"
TUTORIAL_WEIGHTS = "IMAGENET1K_V1"  # what torchvision's ``pretrained=True`` gives
RESNET_BY_LAYER3_BLOCKS = {6: "resnet50", 23: "resnet101", 36: "resnet152"}
LAYER3 = 6  # index of layer3 in the ResNet trunk (conv1, bn1, relu, maxpool, layer1..4)

PICKLE_WARNING = (
    "Files that hold Python objects (such as the reference tutorial's checkpoints, which "
    "store whole model objects) are pickles, and loading a pickle can run arbitrary code "
    "on this computer: only load one that comes from a source you trust."
)

_DECODER_KEYS = (
    "embedding.weight",
    "attention.encoder_att.weight",
    "attention.decoder_att.weight",
    "attention.full_att.weight",
    "f_beta.weight",
    "decode_step.weight_ih",
    "init_h.weight",
    "init_c.weight",
    "fc.weight",
)


class TutorialEncoder(nn.Module):
    """Stand in for the tutorial's ``models.Encoder`` while unpickling (weights only)."""


class TutorialAttention(nn.Module):
    """Stand in for the tutorial's ``models.Attention`` while unpickling (weights only)."""


class TutorialDecoder(nn.Module):
    """Stand in for the tutorial's ``models.DecoderWithAttention`` while unpickling."""


STAND_INS: dict[str, type[nn.Module]] = {
    "Encoder": TutorialEncoder,
    "Attention": TutorialAttention,
    "DecoderWithAttention": TutorialDecoder,
}


class _TutorialUnpickler(pickle.Unpickler):
    """Resolve the tutorial's ``models.*`` classes to the stand-ins; anything else normally.

    ``nn.Module.__setstate__`` restores the parameters and submodules of the stand-ins,
    so ``state_dict()`` works on them although they have no code of their own.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Return the class ``module.name``, using the stand-ins for ``models``."""
        if module == "models":
            try:
                return STAND_INS[name]
            except KeyError:
                raise pickle.UnpicklingError(
                    f"unexpected class models.{name}; expected the tutorial's "
                    f"{', '.join('models.' + n for n in STAND_INS)}"
                ) from None
        return super().find_class(module, name)


def _pickle_module() -> types.ModuleType:
    """Return a module usable as ``torch.load(pickle_module=...)`` with the stand-ins."""
    mod = types.ModuleType("annotator_tutorial_pickle")
    mod.Unpickler = _TutorialUnpickler  # type: ignore[attr-defined]
    mod.load = pickle.load  # type: ignore[attr-defined]  # legacy-format headers
    mod.loads = pickle.loads  # type: ignore[attr-defined]
    mod.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return mod


@dataclass
class ReferenceWeights:
    """What a reference checkpoint holds, as plain state dicts."""

    decoder_state: dict[str, torch.Tensor]
    encoder_state: dict[str, torch.Tensor] | None  # tutorial layout (resnet.*) or None
    grid: tuple[int, int] | None = None  # pooled grid, when the file records it
    dropout: float | None = None  # decoder dropout, when the file records it
    info: dict[str, Any] = field(default_factory=dict)  # epoch, bleu-4, ... (JSON scalars)
    pickled: bool = False  # True when it had to be unpickled


@dataclass(frozen=True)
class ImportResult:
    """Summarise a conversion for the command line."""

    path: Path
    checkpoint: Checkpoint
    encoder_weights: str  # where the encoder weights came from
    pickled: bool

    def summary(self) -> str:
        """Return a few human-readable lines describing the converted model."""
        cfg = self.checkpoint.config
        h, w = cfg.encoder_grid or encoder_spec(cfg.encoder).grid
        lines = [
            f"wrote {self.path} ({self.checkpoint.model_id})",
            f"  encoder {cfg.encoder} ({self.encoder_weights}), pooled to {h}x{w}, "
            f"photos resized to {self.checkpoint.preprocess.image_size}x"
            f"{self.checkpoint.preprocess.image_size}",
            f"  decoder embed {cfg.embed_dim}, attention {cfg.attention_dim}, "
            f"LSTM {cfg.decoder_dim}, features {cfg.encoder_dim}; "
            f"vocabulary {cfg.vocab_size} words",
        ]
        info = self.checkpoint.training.get("reference", {})
        if info:
            lines.append("  reference: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        return "\n".join(lines)


# -- reading the reference file ---------------------------------------------------------


def _sniff_torch_file(path: Path) -> None:
    """Raise ModelLoadError unless ``path`` looks like a torch.save file (zip or pickle)."""
    if not path.exists():
        raise ModelLoadError(path, "file not found")
    if not path.is_file():
        raise ModelLoadError(path, "not a file")
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    if len(head) >= 9 and head[8:9] == b"{":
        raise ModelLoadError(
            path,
            "looks like a safetensors file, not a reference-tutorial "
            "checkpoint; annotator loads safetensors checkpoints "
            "directly",
        )
    raise ModelLoadError(
        path,
        "not a torch.save checkpoint (expected a .pth/.pth.tar file "
        "saved by the reference tutorial, or a state dict)",
    )


def _unsafe_globals(path: Path) -> list[str]:
    """List the classes and functions a zip checkpoint would import (without loading it)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        return sorted(found, key=lambda g: (not g.startswith("models."), g))
    except (
        AttributeError,
        ValueError,
        RuntimeError,
        OSError,
        KeyError,
        IndexError,
        EOFError,
        pickle.UnpicklingError,
    ):  # legacy format or an old torch: only a courtesy
        return []


def read_reference(path: str | Path, *, trust_pickle: bool = False) -> ReferenceWeights:
    """Read a reference checkpoint or state-dict file into plain state dicts.

    Tries ``torch.load(weights_only=True)`` first, which cannot run code. Files that
    hold Python objects need ``trust_pickle=True``; without it they are refused
    before anything in them is executed.
    """
    path = Path(path)
    _sniff_torch_file(path)
    pickled = False
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            found = _unsafe_globals(path)
            what = (
                f" (it contains {', '.join(found[:6])}{', ...' if len(found) > 6 else ''})"
                if found
                else ""
            )
            raise ModelLoadError(
                path,
                f"refusing to unpickle: this file holds Python objects, not just "
                f"weights{what}. {PICKLE_WARNING} If you trust this file, run again "
                "with --trust-pickle; or re-save just the weights in the tutorial's "
                "environment with torch.save({'encoder': ckpt['encoder'].state_dict(), "
                "'decoder': ckpt['decoder'].state_dict()}, PATH), which needs no "
                "trust.",
            ) from exc
        obj = _unpickle_trusted(path)
        pickled = True
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelLoadError(path, f"cannot read the checkpoint: {exc}") from exc
    ref = _interpret(path, obj)
    ref.pickled = pickled
    return ref


def _unpickle_trusted(path: Path) -> Any:
    """Unpickle a trusted reference checkpoint with the stand-in ``models`` classes."""
    try:
        with warnings.catch_warnings():
            # Legacy-format files embed the tutorial's source; ours differs on purpose.
            warnings.simplefilter("ignore", torch.serialization.SourceChangeWarning)
            return torch.load(
                path, map_location="cpu", weights_only=False, pickle_module=_pickle_module()
            )
    except Exception as exc:
        raise ModelLoadError(
            path, f"cannot unpickle the checkpoint ({type(exc).__name__}: {exc})"
        ) from exc


def _strip_prefix(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Return a tensor-only copy of ``state`` without DataParallel's ``module.`` prefix."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k[len("module.") :] if k.startswith("module.") else k] = v
    return out


def _as_state(part: Any, what: str) -> dict[str, torch.Tensor]:
    """Return the state dict of a module object or of a state-dict mapping."""
    if isinstance(part, nn.Module):
        return _strip_prefix(part.state_dict())
    if isinstance(part, Mapping):
        return _strip_prefix(part)
    raise ValueError(f"its {what} is a {type(part).__name__}, neither a module nor a state dict")


def _pool_grid(encoder: Any) -> tuple[int, int] | None:
    """Return the grid an unpickled tutorial encoder pools to, if it says."""
    pool = getattr(encoder, "adaptive_pool", None)
    size = getattr(pool, "output_size", None) or getattr(encoder, "enc_image_size", None)
    if isinstance(size, int):
        return (size, size)
    if isinstance(size, tuple | list) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return (size[0], size[1])
    return None


def _dropout(decoder: Any) -> float | None:
    """Return an unpickled tutorial decoder's dropout probability, if it says."""
    d = getattr(decoder, "dropout", None)
    if isinstance(d, nn.Dropout):
        return float(d.p)
    if isinstance(d, float) and 0.0 <= d < 1.0:
        return d
    return None


def _json_scalar(v: Any) -> Any:
    """Return ``v`` as a JSON scalar (tensors and numpy numbers included), or None."""
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    item = getattr(v, "item", None)  # numpy scalars
    if callable(item) and type(v).__module__ == "numpy":
        try:
            return _json_scalar(item())
        except (TypeError, ValueError):
            return None
    return None


def _interpret(path: Path, obj: Any) -> ReferenceWeights:
    """Split a loaded checkpoint object into decoder/encoder state dicts and notes."""
    try:
        if isinstance(obj, nn.Module):  # torch.save(decoder)
            return ReferenceWeights(_as_state(obj, "decoder"), None, dropout=_dropout(obj))
        if not isinstance(obj, Mapping):
            raise ValueError(f"it holds a {type(obj).__name__}, not a checkpoint dict")
        if "decoder" in obj:
            dec, enc = obj["decoder"], obj.get("encoder")
            info = {}
            for k, v in obj.items():
                if k not in ("encoder", "decoder") and (s := _json_scalar(v)) is not None:
                    info[str(k)] = s
            return ReferenceWeights(
                decoder_state=_as_state(dec, "decoder"),
                encoder_state=None if enc is None else _as_state(enc, "encoder"),
                grid=_pool_grid(enc) if isinstance(enc, nn.Module) else None,
                dropout=_dropout(dec) if isinstance(dec, nn.Module) else None,
                info=info,
            )
        return ReferenceWeights(_as_state(obj, "decoder state dict"), None)
    except ValueError as exc:
        raise ModelLoadError(path, f"not a reference-tutorial checkpoint: {exc}") from exc


# -- mapping onto annotator's modules --------------------------------------------------


def infer_config(
    decoder_state: Mapping[str, torch.Tensor],
    *,
    encoder: str,
    grid: tuple[int, int] | None = TUTORIAL_GRID,
    dropout: float = 0.5,
    max_caption_len: int = TUTORIAL_MAX_LEN,
) -> ModelConfig:
    """Build the ModelConfig whose Decoder has exactly these weight shapes."""
    missing = [k for k in _DECODER_KEYS if k not in decoder_state]
    if missing:
        raise ValueError(
            f"the decoder state dict lacks {', '.join(missing)}; is this a "
            "Show-Attend-Tell decoder of the reference tutorial?"
        )
    vocab_size, embed_dim = decoder_state["embedding.weight"].shape
    decoder_dim, encoder_dim = decoder_state["init_h.weight"].shape
    attention_dim = decoder_state["attention.encoder_att.weight"].shape[0]
    return ModelConfig(
        vocab_size=int(vocab_size),
        encoder=encoder,
        encoder_dim=int(encoder_dim),
        embed_dim=int(embed_dim),
        attention_dim=int(attention_dim),
        decoder_dim=int(decoder_dim),
        dropout=dropout,
        max_caption_len=max_caption_len,
        encoder_grid=grid,
    )


def map_encoder_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the tutorial encoder's ``resnet.*`` keys to annotator's ``trunk.*``."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.startswith("resnet."):
            out["trunk." + k[len("resnet.") :]] = v
        elif k.startswith("trunk."):
            out[k] = v
        else:
            raise ValueError(f"unexpected encoder weight {k!r} (expected resnet.*)")
    return out


def infer_resnet(trunk_state: Mapping[str, torch.Tensor]) -> str:
    """Return resnet50/101/152 from the number of layer3 blocks in a ``trunk.*`` state."""
    prefix = f"trunk.{LAYER3}."
    blocks = {k[len(prefix) :].split(".", 1)[0] for k in trunk_state if k.startswith(prefix)}
    name = RESNET_BY_LAYER3_BLOCKS.get(len(blocks))
    if name is None:
        raise ValueError(
            f"the encoder's layer3 has {len(blocks)} blocks; expected 6, 23 or "
            "36 (ResNet-50, -101 or -152)"
        )
    return name


def read_word_map(path: str | Path) -> Vocab:
    """Read a tutorial ``WORDMAP_*.json`` (word -> index) as a Vocab in index order."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(path, "word map not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(path, f"unreadable word map: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in data.values()
    ):
        raise ModelLoadError(path, "a word map must be a JSON object of word -> index")
    n = len(data)
    words: list[str | None] = [None] * n
    for w, i in data.items():
        if not 0 <= i < n or words[i] is not None:
            raise ModelLoadError(
                path,
                f"word map indices must be 0..{n - 1}, each used once (bad index {i} for {w!r})",
            )
        words[i] = w
    try:
        return Vocab([w for w in words if w is not None])
    except ValueError as exc:
        raise ModelLoadError(path, f"bad word map: {exc}") from exc


def pretrained_trunk_state(name: str) -> dict[str, torch.Tensor]:
    """Return torchvision's ImageNet weights for ``name`` as ``trunk.*`` (the tutorial's).

    The tutorial used ``pretrained=True``, which is torchvision's IMAGENET1K_V1 weights
    (not the newer default); they are downloaded once into the torch hub cache.
    """
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name)[TUTORIAL_WEIGHTS]
        net = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:
        raise ModelLoadError(
            name,
            f"the checkpoint has no encoder weights, and torchvision's "
            f"{TUTORIAL_WEIGHTS} ImageNet weights for {name} (the ones the tutorial "
            f"used) could not be obtained ({type(exc).__name__}: {exc}); they are "
            "downloaded on first use, so a machine without network access needs them "
            "in the torch hub cache (TORCH_HOME)",
        ) from exc
    trunk = nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc, as the tutorial
    return {f"trunk.{k}": v for k, v in trunk.state_dict().items()}


def import_checkpoint(
    decoder_checkpoint: str | Path,
    word_map: str | Path,
    out: str | Path,
    *,
    trust_pickle: bool = False,
    encoder: str | None = None,
    name: str | None = None,
    grid: int | None = None,
    half: bool = False,
) -> ImportResult:
    """Convert a reference-tutorial checkpoint plus its word map into ``out``.

    ``encoder`` names the ResNet when the file has no encoder weights (default
    resnet101, whose ImageNet weights are then fetched from torchvision); with
    weights, the depth is read from them and ``encoder``, if given, must agree.
    ``grid`` is the pooled grid side when the file does not record it (default 14).
    """
    from annotator.model.captioner import build_modules

    src_path, out = Path(decoder_checkpoint), Path(out)
    ref = read_reference(src_path, trust_pickle=trust_pickle)
    vocab = read_word_map(word_map)
    try:
        enc_state = map_encoder_state(ref.encoder_state) if ref.encoder_state else None
        if enc_state is not None:
            found = infer_resnet(enc_state)
            if encoder and encoder != found:
                raise ValueError(
                    f"--encoder {encoder} disagrees with the checkpoint's "
                    f"encoder weights, which are a {found}"
                )
            encoder = found
        else:
            encoder = encoder or TUTORIAL_ENCODER
        if not encoder.startswith("resnet"):
            raise ValueError(f"the reference tutorial uses a ResNet encoder, not {encoder}")
        spec = encoder_spec(encoder)
        pool = ref.grid or ((grid, grid) if grid else TUTORIAL_GRID)
        dropout = 0.5 if ref.dropout is None else ref.dropout
        config = infer_config(ref.decoder_state, encoder=encoder, grid=pool, dropout=dropout)
        if config.encoder_dim != spec.feature_dim:
            raise ValueError(
                f"the decoder expects {config.encoder_dim}-channel features but "
                f"{encoder} gives {spec.feature_dim}"
            )
    except ValueError as exc:
        raise ModelLoadError(src_path, str(exc)) from exc
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(
            Path(word_map),
            f"the word map has {len(vocab)} words but the "
            f"decoder's embedding has {config.vocab_size} "
            "rows; is it the word map this model was "
            "trained with?",
        )
    weights_from = "weights from the checkpoint"
    if enc_state is None:
        enc_state = pretrained_trunk_state(encoder)
        weights_from = f"torchvision {TUTORIAL_WEIGHTS} ImageNet weights"
    reference: dict[str, Any] = {"source": src_path.name, **ref.info}
    ckpt = Checkpoint(
        config=config,
        vocab=vocab,
        preprocess=Preprocess(
            image_size=TUTORIAL_IMAGE_SIZE,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            resample=TUTORIAL_RESAMPLE,
        ),
        decoder_state=dict(ref.decoder_state),
        encoder_state=enc_state,
        name=name or out.stem,
        metrics={
            "note": f"imported from {REFERENCE}; the bleu-4 it recorded (a 0-1 "
            "fraction, teacher-forced validation) is under training.reference"
        },
        training={"imported_from": REFERENCE, "reference": reference},
    )
    try:
        build_modules(ckpt)  # loads both state dicts strictly: shapes and names must match
    except (RuntimeError, ModelLoadError) as exc:
        raise ModelLoadError(src_path, f"weights do not fit annotator's model: {exc}") from exc
    save_checkpoint(ckpt, out, half=half)
    return ImportResult(
        path=out, checkpoint=ckpt, encoder_weights=weights_from, pickled=ref.pickled
    )
