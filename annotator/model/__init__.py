"""Show, Attend and Tell captioner: encoder, attention, decoder, beam search, checkpoints."""

from __future__ import annotations
