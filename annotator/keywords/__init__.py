"""Everyday keywords from the encoder's ImageNet classifier (no WordNet at run time)."""

from __future__ import annotations

from annotator.keywords.aggregate import (
    DEFAULT_MAX_KEYWORDS,
    DEFAULT_THRESHOLD,
    class_probabilities,
    keywords_from_prob_batch,
    keywords_from_probs,
)
from annotator.keywords.table import ClassEntry, load_table

__all__ = [
    "DEFAULT_MAX_KEYWORDS",
    "DEFAULT_THRESHOLD",
    "ClassEntry",
    "class_probabilities",
    "keywords_from_prob_batch",
    "keywords_from_probs",
    "load_table",
]
