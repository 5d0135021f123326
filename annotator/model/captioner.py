"""Load a captioner once and caption batches of photos under ``torch.inference_mode``."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from annotator.core.errors import ImageReadError, ModelLoadError
from annotator.core.settings import DEFAULT_BEAM_SIZE, DEFAULT_LENGTH_PENALTY, default_model_path
from annotator.core.types import Alternative, CaptionResult, Keyword, PhotoFailure
from annotator.keywords.aggregate import (
    DEFAULT_THRESHOLD,
    class_probabilities,
    keywords_from_prob_batch,
)
from annotator.keywords.guidance import (
    GUIDANCE_MODES,
    NOVEL_GUIDANCE_THRESHOLD,
    NOVEL_MAX_DROP,
    constraints_for,
)
from annotator.keywords.novel import load_novel_words
from annotator.model.articles import fix_articles
from annotator.model.beam import Hypothesis, Repetition, beam_search
from annotator.model.checkpoint import Checkpoint, load_checkpoint
from annotator.model.decoder import Decoder
from annotator.model.encoder import Encoder
from annotator.model.novel import (
    donor_bans,
    extend_decoder,
    fitting,
    plan_novel,
    without_novel,
)
from annotator.model.preprocess import load_image
from annotator.model.runtime.engine import EngineChoice, choose_precision, resolve_engine

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from annotator.model.runtime.session import OnnxEncoder


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``auto`` (a GPU when present), ``cpu`` or ``cuda[:n]``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(device, "CUDA was requested but no CUDA GPU is available")
    return torch.device(device)


def build_modules(
    ckpt: Checkpoint, *, pretrained_encoder: bool | None = None
) -> tuple[Encoder, Decoder]:
    """Rebuild encoder and decoder from a checkpoint and load their weights."""
    use_package = ckpt.encoder_state is None if pretrained_encoder is None else pretrained_encoder
    encoder = Encoder(
        ckpt.config.encoder,
        pretrained=use_package,
        pool_grid=ckpt.config.encoder_grid,
        use_head=ckpt.has_head,
    )
    if ckpt.encoder_state is not None:
        encoder.load_state_dict(ckpt.encoder_state)
    decoder = Decoder(ckpt.config)
    try:
        decoder.load_state_dict(ckpt.decoder_state)
    except RuntimeError as exc:
        raise ModelLoadError(ckpt.name, f"decoder weights do not match the config: {exc}") from exc
    return encoder, decoder


class Captioner:
    """Caption photos with one loaded model; reusable across calls and threads (read-only).

    ``engine`` runs the encoder in PyTorch (``torch``) or ONNX Runtime (``onnx``; ``auto``
    picks ONNX Runtime when it is installed); ``precision`` is ``fp32`` or ``int8`` (ONNX
    Runtime on the CPU). The ONNX model is exported on first use and cached; the
    decoder always runs in PyTorch.

    ``novel_words`` extends the caption vocabulary with the keyword words it lacks
    (``annotator.model.novel``); they appear only in captions whose tag guidance asks
    for them. ``decoder`` and ``vocab`` are the checkpoint's (training and evaluation
    use them); ``caption_decoder`` and ``caption_vocab`` are the extended ones that
    captions come from (the same objects without novel words).
    """

    def __init__(
        self,
        ckpt: Checkpoint,
        device: str | torch.device = "auto",
        *,
        engine: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        novel_words: bool = True,
    ) -> None:
        self.ckpt = ckpt
        self.threads = threads  # ONNX Runtime intra-op threads (None: one per core)
        self.device = resolve_device(device)
        self.engine: EngineChoice = resolve_engine(engine, precision, self.device)
        self._engine_asked = engine
        self.encoder, self.decoder = build_modules(ckpt)
        self.encoder.to(self.device).eval()
        self.decoder.to(self.device).eval()
        self.vocab = ckpt.vocab
        self.novel = plan_novel(ckpt.vocab, load_novel_words() if novel_words else ())
        self.caption_decoder = extend_decoder(self.decoder, self.novel)
        self.caption_vocab = self.novel.vocab
        self.preprocess = ckpt.preprocess
        self._cache = None  # ModelCache of the ONNX encoder
        if self.engine.engine == "onnx":
            from annotator.model.runtime.cache import ModelCache

            self._cache = ModelCache(self.encoder, self.preprocess.image_size, ckpt.version)
            self.engine = choose_precision(self.engine, self._cache.ranges().is_file())
        self._onnx: OnnxEncoder | None = None  # built on first use
        self._onnx_lock = threading.Lock()
        self._repetition = Repetition.for_words(self.caption_vocab.itos)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "auto",
        *,
        engine: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        novel_words: bool = True,
    ) -> Captioner:
        """Load the checkpoint at ``path`` (default: the shipped model).

        ``threads`` caps ONNX Runtime's intra-op threads (default: one per core this
        process may run on).
        """
        path = Path(path) if path else default_model_path()
        if not path.exists() and not path.parent.exists():
            raise ModelLoadError(path, "no model found; pass --model PATH")
        ckpt = load_checkpoint(path)
        return cls(
            ckpt,
            device,
            engine=engine,
            precision=precision,
            threads=threads,
            novel_words=novel_words,
        )

    @property
    def engine_name(self) -> str:
        """Return a short description of the encoder engine, e.g. ``onnx int8 (CPU)``."""
        e = self.engine
        if e.engine == "torch":
            return f"torch {e.precision}"
        return f"onnx {e.precision} ({e.provider.removesuffix('ExecutionProvider')})"

    def onnx_encoder(self) -> OnnxEncoder | None:
        """Return the ONNX Runtime encoder, exporting or loading the cached model once.

        With ``engine="auto"``, an encoder the exporter cannot express returns None and
        the captioner stays on PyTorch (noted in ``engine.note``).
        """
        if self._onnx is None:
            with self._onnx_lock:
                if self._onnx is None:
                    from annotator.model.runtime.session import OnnxEncoder

                    assert self._cache is not None  # set for the onnx engine
                    self.encoder.cpu()  # exported from the CPU
                    try:
                        self._onnx = OnnxEncoder(
                            self._cache, self.engine.precision, self.engine.provider, self.threads
                        )
                    except ModelLoadError as exc:
                        if self._engine_asked != "auto":
                            raise
                        # e.g. a pooled grid the exporter cannot express: stay on PyTorch
                        log.warning("encoder runs in PyTorch: %s", exc)
                        note = f"ONNX export failed: {exc}"
                        self.engine = EngineChoice("torch", "fp32", note=note)
                    finally:
                        self.encoder.to(self.device)
        return self._onnx

    @property
    def model_id(self) -> str:
        """Return ``name@version`` of the loaded checkpoint."""
        return self.ckpt.model_id

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Encode preprocessed images (B, 3, S, S) into features (B, P, E) on the device."""
        onnx = self.onnx_encoder() if self.engine.engine == "onnx" else None
        if onnx is not None:
            grid: torch.Tensor = onnx(images).to(self.device)  # (B, P, E)
            return grid
        images = images.to(self.device, non_blocking=True)  # (B, 3, S, S)
        features: torch.Tensor = self.encoder(images)  # (B, P, E)
        return features

    @torch.inference_mode()
    def encode_with_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode images (B, 3, S, S) once into features (B, P, E) and class logits (B, 1000).

        The logits are None when the encoder has no usable ImageNet head.
        """
        onnx = self.onnx_encoder() if self.engine.engine == "onnx" else None
        if onnx is not None:
            feats, logits = onnx.features_and_logits(images)
            return feats.to(self.device), None if logits is None else logits.to(self.device)
        return self.encoder.features_and_logits(images.to(self.device, non_blocking=True))

    @torch.inference_mode()
    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor | None:
        """Return class logits (B, 1000) for cached features (B, P, E), if they allow it.

        Without ``pool_grid`` the grid is the unpooled final map, whose mean over
        positions is exactly what the ImageNet head was trained on.
        """
        if not self.encoder.has_head or self.encoder.pool_grid is not None:
            return None
        logits: torch.Tensor = self.encoder.head(features.to(self.device).mean(dim=1))  # (B, 1000)
        return logits

    def keywords(self, class_logits: torch.Tensor | None, n: int) -> list[list[Keyword]]:
        """Return each photo's keywords from class logits (B, 1000); none without logits."""
        if class_logits is None:
            return [[] for _ in range(n)]
        probs = class_probabilities(class_logits.float().cpu().numpy())  # (B, 1000)
        return keywords_from_prob_batch(probs, threshold=DEFAULT_THRESHOLD)

    @torch.inference_mode()
    def caption_features(
        self,
        features: torch.Tensor,
        *,
        beam_size: int = DEFAULT_BEAM_SIZE,
        max_len: int | None = None,
        length_penalty: float = DEFAULT_LENGTH_PENALTY,
        class_logits: torch.Tensor | None = None,
        guidance: str = "tags",
        repetition: bool = True,
        guidance_threshold: float | None = None,
        guidance_max: int | None = None,
        novel_threshold: float | None = None,
        novel_max_drop: float = NOVEL_MAX_DROP,
    ) -> list[CaptionResult]:
        """Beam-search captions for features (B, P, E), with keywords from class logits.

        ``class_logits`` (B, 1000) default to those the features allow
        (``logits_from_features``). ``guidance="tags"`` makes each caption name its
        confident keywords that are in the vocabulary (constrained beam search);
        ``"none"`` is plain beam search. ``repetition`` switches repetition control.
        A novel word stays only where its caption ranks at most ``novel_max_drop``
        below the caption without it (``annotator.model.novel.fitting``; ``math.inf``
        always keeps it); the thresholds default to ``annotator.keywords.guidance``'s.
        """
        if guidance not in GUIDANCE_MODES:
            raise ValueError(f"guidance must be one of {GUIDANCE_MODES}, got {guidance!r}")
        max_len = max_len or self.ckpt.config.max_caption_len
        if class_logits is None:
            class_logits = self.logits_from_features(features)
        b = features.size(0)
        keywords = self.keywords(class_logits, b)
        constraints: list[list[set[int]]] | None = None
        banned_per_photo = None
        novel_rows: list[int] = []
        if guidance == "tags":
            constraints = self.constraints(
                keywords, guidance_threshold, guidance_max, novel_threshold
            )
            banned_per_photo = [donor_bans(c, self.novel.donor_of) for c in constraints]
            # a photo asked for a novel word is decoded without it too, in the same search
            if novel_max_drop < math.inf:  # math.inf keeps every novel word: no fallback
                novel_rows = [i for i, c in enumerate(constraints) if self.novel.asks_novel(c)]
            constraints += [without_novel(constraints[i], self.novel) for i in novel_rows]
            banned_per_photo += [set() for _ in novel_rows]
            features = torch.cat([features, features[novel_rows]]) if novel_rows else features
        hyps = beam_search(
            self.caption_decoder,
            features.to(self.device),
            beam_size=beam_size,
            start=self.caption_vocab.start,
            end=self.caption_vocab.end,
            max_len=max_len,
            min_len=1,
            length_penalty=length_penalty,
            banned=self.caption_vocab.never_generated(),
            constraints=constraints,
            repetition=self._repetition if repetition else None,
            restricted=self.novel.novel_ids,
            photo_banned=banned_per_photo,
        )
        for i, fallback in zip(novel_rows, hyps[b:], strict=True):
            if not fitting(hyps[i], fallback, length_penalty, novel_max_drop):
                hyps[i] = fallback
        hyps = hyps[:b]
        grid = self._grid(features.size(1))
        return [
            self._result(h, grid, beam_size, length_penalty, tuple(kws))
            for h, kws in zip(hyps, keywords, strict=True)
        ]

    def constraints(
        self,
        keywords: Sequence[Sequence[Keyword]],
        threshold: float | None = None,
        max_constraints: int | None = None,
        novel_threshold: float | None = None,
    ) -> list[list[set[int]]]:
        """Return each photo's guidance constraints (token-id sets) from its keywords.

        None keeps the default thresholds and number of constraints (``guidance``); a
        ``threshold`` given alone also raises the novel-word threshold to it.
        """
        opts: dict[str, float] = {}
        if threshold is not None:
            opts["threshold"] = threshold
            opts["novel_threshold"] = max(threshold, NOVEL_GUIDANCE_THRESHOLD)
        if max_constraints is not None:
            opts["max_constraints"] = max_constraints
        if novel_threshold is not None:
            opts["novel_threshold"] = novel_threshold
        return [
            constraints_for(
                kws,
                self.caption_vocab.stoi.get,
                names=self.novel.names,
                novel=self.novel.is_novel,
                **opts,  # type: ignore[arg-type]
            )
            for kws in keywords
        ]

    def caption_tensors(self, images: torch.Tensor, **kw: object) -> list[CaptionResult]:
        """Encode and caption a batch of preprocessed images (B, 3, S, S)."""
        features, logits = self.encode_with_logits(images)
        return self.caption_features(features, class_logits=logits, **kw)  # type: ignore[arg-type]

    def caption_files(
        self, paths: Sequence[str | Path], *, batch_size: int = 16, **kw: object
    ) -> list[CaptionResult | PhotoFailure]:
        """Caption photo files in batches; a bad file yields a PhotoFailure, not an exception."""
        out: list[CaptionResult | PhotoFailure | None] = [None] * len(paths)
        for lo in range(0, len(paths), batch_size):
            idx, tensors = [], []
            for i in range(lo, min(lo + batch_size, len(paths))):
                try:
                    tensors.append(load_image(paths[i], self.preprocess).tensor)
                    idx.append(i)
                except ImageReadError as exc:
                    out[i] = PhotoFailure(Path(paths[i]), exc.reason)
            if tensors:
                for i, res in zip(
                    idx, self.caption_tensors(torch.stack(tensors), **kw), strict=True
                ):
                    out[i] = res
        return [r for r in out if r is not None]

    def _grid(self, positions: int) -> tuple[int, int]:
        h, w = self.encoder.grid
        if h * w == positions:
            return h, w
        side = math.isqrt(positions)
        return (side, positions // side)

    def _words(self, h: Hypothesis) -> list[str]:
        return fix_articles(self.caption_vocab.decode(h.tokens))

    def _result(
        self,
        hyps: list[Hypothesis],
        grid: tuple[int, int],
        beam_size: int,
        length_penalty: float,
        keywords: tuple[Keyword, ...] = (),
    ) -> CaptionResult:
        best = hyps[0]
        words = self._words(best)
        n = len(words)
        att = best.alphas[:n].reshape(n, *grid).numpy().astype(np.float32)  # (T, H, W)
        alts = tuple(
            Alternative(" ".join(self._words(h)), h.ranked_score(length_penalty), tuple(h.logprobs))
            for h in hyps
        )
        return CaptionResult(
            words=tuple(words),
            score=best.score,
            word_logprobs=tuple(best.logprobs),
            attention=att,
            alternatives=alts,
            model_id=self.model_id,
            beam_size=beam_size,
            keywords=keywords,
        )
