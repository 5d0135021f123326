"""Describe encoders and the captioner's hyperparameters as plain, serialisable data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

LITE_MEAN = (0.498, 0.498, 0.498)
LITE_STD = (0.502, 0.502, 0.502)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderSpec:
    """Describe one supported CNN encoder: its input size, statistics and feature grid."""

    name: str
    image_size: int  # square input side in pixels
    feature_dim: int  # channels of the last feature map
    grid: tuple[int, int]  # (H, W) of the feature map at image_size
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("efficientnet-lite0", 224, 1280, (7, 7), LITE_MEAN, LITE_STD),
        EncoderSpec("efficientnet-lite1", 240, 1280, (8, 8), LITE_MEAN, LITE_STD),
        EncoderSpec("efficientnet-lite2", 260, 1280, (9, 9), LITE_MEAN, LITE_STD),
        EncoderSpec("resnet50", 224, 2048, (7, 7), IMAGENET_MEAN, IMAGENET_STD),
        EncoderSpec("resnet101", 224, 2048, (7, 7), IMAGENET_MEAN, IMAGENET_STD),
        EncoderSpec("resnet152", 224, 2048, (7, 7), IMAGENET_MEAN, IMAGENET_STD),
    )
}
DEFAULT_ENCODER = "efficientnet-lite2"


def encoder_spec(name: str) -> EncoderSpec:
    """Return the spec of encoder ``name`` or raise ValueError listing the known ones."""
    try:
        return ENCODERS[name]
    except KeyError:
        known = ", ".join(sorted(ENCODERS))
        raise ValueError(f"unknown encoder {name!r}; choose one of: {known}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Hold every hyperparameter needed to rebuild the captioner from a checkpoint."""

    vocab_size: int
    encoder: str = DEFAULT_ENCODER
    encoder_dim: int = 1280
    embed_dim: int = 512
    attention_dim: int = 512
    decoder_dim: int = 512
    dropout: float = 0.5
    max_caption_len: int = 50  # longest caption the beam search may produce (words)
    # (H, W) the encoder's feature map is average-pooled to; None keeps the native grid.
    # Checkpoints imported from the reference tutorial use (14, 14).
    encoder_grid: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise ``encoder_grid`` to a tuple of two positive ints."""
        if self.encoder_grid is not None:  # JSON gives a list: store a hashable tuple
            h, w = (int(x) for x in self.encoder_grid)
            if h < 1 or w < 1:
                raise ValueError(f"encoder_grid must be positive, got {self.encoder_grid}")
            object.__setattr__(self, "encoder_grid", (h, w))

    @classmethod
    def for_encoder(cls, vocab_size: int, encoder: str = DEFAULT_ENCODER, **kw: Any) -> ModelConfig:
        """Build a config whose ``encoder_dim`` matches ``encoder``."""
        return cls(
            vocab_size=vocab_size,
            encoder=encoder,
            encoder_dim=encoder_spec(encoder).feature_dim,
            **kw,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-compatible dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
