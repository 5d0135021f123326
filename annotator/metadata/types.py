"""Define the values the metadata package takes and returns: provenance, reports, readings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# The metadata modes and sidecar styles (defined in core, below the settings that use them).
from annotator.core.types import METADATA_MODES as METADATA_MODES
from annotator.core.types import SIDECAR_STYLES as SIDECAR_STYLES
from annotator.core.types import Keyword
from annotator.core.types import MetadataMode as MetadataMode
from annotator.core.types import SidecarStyle as SidecarStyle


@dataclass(frozen=True)
class Provenance:
    """Say who wrote a caption, recorded in XMP under the annotator namespace.

    ``source`` is ``"model"`` for a machine caption and ``"human"`` for one a
    person wrote or edited inside annotator. ``text_digest`` is filled in only
    when provenance is read back: the digest of the text it was written for,
    which tells whether someone edited the description since.
    """

    model_version: str = ""
    score: float | None = None
    reviewed: bool = False
    source: str = "model"
    text_digest: str | None = None

    def same_claim(self, other: Provenance | None) -> bool:
        """Return whether ``other`` records the same model, score, review flag and source."""
        if other is None:
            return False
        # Scores are written with 6 significant digits (see xmp.py): compare at that precision.
        score_same = (self.score is None and other.score is None) or (
            self.score is not None
            and other.score is not None
            and f"{self.score:.6g}" == f"{other.score:.6g}"
        )
        return (
            self.model_version == other.model_version
            and score_same
            and self.reviewed == other.reviewed
            and self.source == other.source
        )


class Origin(StrEnum):
    """Classify the description a photo already holds."""

    NONE = "none"  # no description at all
    BOILERPLATE = "boilerplate"  # only camera filler such as "OLYMPUS DIGITAL CAMERA" or blanks
    ANNOTATOR = "annotator"  # annotator wrote it and nobody changed it since
    HUMAN = "human"  # a description annotator did not write


@dataclass(frozen=True)
class DescriptionEntry:
    """One description found in a photo or its sidecar."""

    source: str  # e.g. "XMP-dc:Description", "EXIF:ImageDescription", "IPTC:Caption-Abstract"
    text: str
    location: Path  # the file that holds it (the photo or a sidecar)
    boilerplate: bool


@dataclass(frozen=True)
class FoundKeyword:
    """A keyword found in a photo that annotator did not write, and the field it was in."""

    keyword: Keyword  # source "human", no probability
    source: str  # "XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "IPTC:Keywords", ...


@dataclass(frozen=True)
class PhotoMetadata:
    """Describe what a photo holds, as ``read_metadata`` found it."""

    path: Path
    format: str  # "jpeg", "png", "webp", "tiff", "raw", "heif", "other"
    origin: Origin
    description: str | None  # the human description if there is one, else the best one found
    description_source: str | None
    descriptions: tuple[DescriptionEntry, ...] = ()
    provenance: Provenance | None = None
    sidecars: tuple[Path, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # (name, value) lines for display
    notes: tuple[str, ...] = ()
    keywords: tuple[FoundKeyword, ...] = ()  # keywords a person (or another program) put there
    annotator_keywords: tuple[str, ...] = ()  # flat words annotator recorded as its own
    annotator_paths: tuple[str, ...] = ()  # hierarchy paths annotator recorded as its own

    @property
    def is_human(self) -> bool:
        """Return whether the photo holds a description annotator did not write."""
        return self.origin is Origin.HUMAN


@dataclass(frozen=True)
class HumanDescriptionFound:
    """Report a human's description that a write left alone, for import as a human caption."""

    path: Path
    text: str
    source: str


class Outcome(StrEnum):
    """Say what ``write_caption`` did (``FAILED``: what a caller reports for a raised error)."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the photo already held this caption and provenance
    SKIPPED_HUMAN = "skipped-human"  # a human description is there and was kept
    DATABASE_ONLY = "database-only"  # mode "none", or nowhere writable
    DRY_RUN = "dry-run"  # nothing written; ``targets`` and ``fields`` say what would be
    SKIPPED = "skipped"  # the photo's real file lies outside the watched folders (a link)
    FAILED = "failed"  # the write could not be done safely; the photo is unchanged (notes: why)


@dataclass(frozen=True)
class WriteReport:
    """Tell what ``write_caption`` wrote where, and why anything was left out."""

    path: Path
    outcome: Outcome
    targets: tuple[Path, ...] = ()  # files written (or, for a dry run, that would be)
    fields: tuple[str, ...] = ()  # e.g. "XMP-dc:Description", "EXIF:ImageDescription"
    notes: tuple[str, ...] = ()
    human: HumanDescriptionFound | None = None
    backup: Path | None = None
    keywords_found: tuple[FoundKeyword, ...] = ()  # for import as human keywords

    @property
    def changed(self) -> bool:
        """Return whether any file was written."""
        return self.outcome is Outcome.WRITTEN
