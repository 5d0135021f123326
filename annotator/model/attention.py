"""Soft additive (Bahdanau) attention over the encoder's feature grid."""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Score every grid cell against the decoder state and return the weighted feature."""

    def __init__(self, encoder_dim: int, decoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)

    def project(self, encoder_out: torch.Tensor) -> torch.Tensor:
        """Project the features once per caption: (B, P, E) -> (B, P, A)."""
        projected: torch.Tensor = self.encoder_att(encoder_out)  # (B, P, A)
        return projected

    def forward(
        self,
        encoder_out: torch.Tensor,
        decoder_hidden: torch.Tensor,
        projected: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the attention-weighted encoding (B, E) and the weights alpha (B, P)."""
        att1 = self.project(encoder_out) if projected is None else projected  # (B, P, A)
        att2 = self.decoder_att(decoder_hidden)  # (B, A)
        att = self.full_att(torch.relu(att1 + att2.unsqueeze(1))).squeeze(2)  # (B, P)
        alpha = torch.softmax(att, dim=1)  # (B, P)
        awe = torch.bmm(alpha.unsqueeze(1), encoder_out).squeeze(1)  # (B, E)
        return awe, alpha
