"""Define the frozen value types passed between model, library, pipeline and GUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

# Where captions go: into the photo, into an XMP sidecar, or only into the library.
# Defined here, below both metadata and settings; ``annotator.metadata.types`` exports them.
MetadataMode = Literal["embed", "sidecar", "none"]
METADATA_MODES: tuple[MetadataMode, ...] = ("embed", "sidecar", "none")
# Sidecar names: photo.jpg.xmp ("ext-append") or photo.xmp ("replace").
SidecarStyle = Literal["ext-append", "replace"]
SIDECAR_STYLES: tuple[SidecarStyle, ...] = ("ext-append", "replace")


@dataclass(frozen=True)
class Alternative:
    """One entry of a caption's n-best list."""

    text: str
    score: float  # total log-probability (length-normalised if the search was)
    word_logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Keyword:
    word: str  # everyday word, e.g. "cat"
    hierarchy: tuple[str, ...]  # root..leaf, e.g. ("Animals", "Mammals", "Cat")
    probability: float | None  # None for human keywords
    source: str = "model"  # "model" or "human"


@dataclass(frozen=True)
class CaptionResult:
    """Hold what the captioner produced for one photo.

    ``attention`` has one H x W map per word of ``words`` (the ``<end>`` step is
    not included), each map summing to 1 over the grid.
    """

    words: tuple[str, ...]
    score: float  # total log-probability of the caption (incl. <end>)
    word_logprobs: tuple[float, ...]  # one per word, plus one for <end>
    attention: np.ndarray = field(repr=False)  # (T, H, W) float32
    alternatives: tuple[Alternative, ...] = ()  # n-best, best first (includes the best)
    model_id: str = ""  # name + short hash of the checkpoint that wrote it
    beam_size: int = 1
    keywords: tuple[Keyword, ...] = ()

    @property
    def text(self) -> str:
        """Return the caption as a sentence."""
        return " ".join(self.words)

    @property
    def confidence(self) -> float:
        """Return the mean per-word log-probability, a length-independent confidence."""
        if not self.word_logprobs:
            return float("-inf")
        return float(sum(self.word_logprobs) / len(self.word_logprobs))


@dataclass(frozen=True)
class PhotoFailure:
    """A photo that could not be read, decoded or captioned, with the reason in one line.

    The one failure value of the pipeline: stages return it, the indexer reports it
    to its listener, and the library records it (as a ``FailureInfo`` row).
    ``job_id`` is the queue job it failed in, if any.
    """

    path: Path
    reason: str
    job_id: int | None = None
