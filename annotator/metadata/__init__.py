"""Write captions into photos' EXIF and XMP (or XMP sidecars) safely, and read them back.

The package does not depend on the library: callers pass the caption text and
its provenance, and get a ``WriteReport`` back (or ``PhotoMetadata`` from
``read_metadata``). See ``writer`` for the safe-write procedure.
"""

from __future__ import annotations

from annotator.metadata.reader import is_boilerplate, read_metadata
from annotator.metadata.types import (
    DescriptionEntry,
    HumanDescriptionFound,
    Origin,
    Outcome,
    PhotoMetadata,
    Provenance,
    WriteReport,
)
from annotator.metadata.writer import cleanup_stale_temp_files, try_write_caption, write_caption
from annotator.metadata.xmp import NS_ANNOTATOR, existing_sidecars, sidecar_path

__all__ = [
    "NS_ANNOTATOR",
    "DescriptionEntry",
    "HumanDescriptionFound",
    "Origin",
    "Outcome",
    "PhotoMetadata",
    "Provenance",
    "WriteReport",
    "cleanup_stale_temp_files",
    "existing_sidecars",
    "is_boilerplate",
    "read_metadata",
    "sidecar_path",
    "try_write_caption",
    "write_caption",
]
