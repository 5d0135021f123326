"""LSTM decoder with soft attention and a gating scalar (Show, Attend and Tell).

Parameter names follow the widely used reference implementation's state-dict layout
(``embedding``, ``attention.{encoder_att,decoder_att,full_att}``, ``f_beta``,
``decode_step``, ``init_h``, ``init_c``, ``fc``), so its checkpoints import directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from annotator.model.attention import Attention
from annotator.model.config import ModelConfig


@dataclass
class DecoderState:
    """The recurrent state of a batch of captions being decoded."""

    h: torch.Tensor  # (N, D)
    c: torch.Tensor  # (N, D)

    def select(self, index: torch.Tensor) -> DecoderState:
        """Return the state rows ``index`` (used to reorder beams)."""
        return DecoderState(self.h.index_select(0, index), self.c.index_select(0, index))


class Decoder(nn.Module):
    """Generate captions word by word while attending over the feature grid."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        e, d, a = config.encoder_dim, config.decoder_dim, config.attention_dim
        self.attention = Attention(e, d, a)
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.dropout = nn.Dropout(p=config.dropout)
        self.decode_step = nn.LSTMCell(config.embed_dim + e, d, bias=True)
        self.init_h = nn.Linear(e, d)
        self.init_c = nn.Linear(e, d)
        self.f_beta = nn.Linear(d, e)  # gate on the attention-weighted encoding
        self.fc = nn.Linear(d, config.vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise embedding and output layer uniformly, as the reference does."""
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.fc.bias)
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)

    def load_embeddings(self, weights: torch.Tensor, trainable: bool = True) -> None:
        """Copy pretrained word vectors (V, embed_dim) into the embedding."""
        self.embedding.weight.data.copy_(weights)
        self.embedding.weight.requires_grad = trainable

    def init_state(self, encoder_out: torch.Tensor) -> DecoderState:
        """Initialise h and c from the mean feature: (N, P, E) -> 2 x (N, D)."""
        mean = encoder_out.mean(dim=1)  # (N, E)
        return DecoderState(self.init_h(mean), self.init_c(mean))

    def step(
        self,
        words: torch.Tensor,
        state: DecoderState,
        encoder_out: torch.Tensor,
        projected: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, DecoderState]:
        """Decode one word for N captions.

        Takes the previous words (N,), the state, features (N, P, E) and optionally
        their attention projection (N, P, A). Returns raw scores (N, V), attention
        weights (N, P) and the new state.
        """
        emb = self.embedding(words)  # (N, M)
        awe, alpha = self.attention(encoder_out, state.h, projected)  # (N, E), (N, P)
        gate = torch.sigmoid(self.f_beta(state.h))  # (N, E)
        awe = gate * awe  # (N, E)
        h, c = self.decode_step(torch.cat([emb, awe], dim=1), (state.h, state.c))  # (N, D) x2
        scores = self.fc(self.dropout(h))  # (N, V)
        return scores, alpha, DecoderState(h, c)

    def forward(
        self, encoder_out: torch.Tensor, captions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-force captions (B, L) that start with ``<start>``.

        Returns scores (B, L-1, V) predicting ``captions[:, 1:]`` and attention
        weights (B, L-1, P). Padding positions are computed but must be masked
        by the caller (see ``annotator.train.loop.caption_loss``).
        """
        length = captions.size(1)
        state = self.init_state(encoder_out)
        projected = self.attention.project(encoder_out)  # (B, P, A)
        scores, alphas = [], []
        for t in range(length - 1):
            s, alpha, state = self.step(captions[:, t], state, encoder_out, projected)
            scores.append(s)  # (B, V)
            alphas.append(alpha)  # (B, P)
        return torch.stack(scores, dim=1), torch.stack(alphas, dim=1)  # (B, L-1, V), (B, L-1, P)
