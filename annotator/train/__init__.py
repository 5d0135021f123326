"""Train and evaluate captioners: datasets, feature cache, training loop, metrics."""

from __future__ import annotations
