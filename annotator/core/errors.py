"""Define the domain errors that every layer raises and the CLI and GUI report.

Each error names the file it concerns and a human reason, and keeps its cause
(``raise ... from exc``), in the manner of beets' ``FileOperationError``.
"""

from __future__ import annotations

from pathlib import Path


class AnnotatorError(Exception):
    """Base class of every error annotator raises on purpose."""


class FileOperationError(AnnotatorError):
    """Report a failure to operate on one file, with the path and a short reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageReadError(FileOperationError):
    """Report a photo that cannot be opened or decoded."""


class MetadataWriteError(FileOperationError):
    """Report a photo whose metadata could not be written safely."""


class MetadataReadError(FileOperationError):
    """Report a photo whose metadata could not be read."""


class ModelLoadError(FileOperationError):
    """Report a checkpoint or encoder weight file that cannot be loaded."""


class LibraryError(AnnotatorError):
    """Report a problem with the photo library database."""
