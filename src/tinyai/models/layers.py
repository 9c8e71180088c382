"""Layers that tinyai models are built from and that loading must be able to rebuild."""

from __future__ import annotations

import torch
from torch import nn


class FactorizedEmbedding(nn.Module):
    """ALBERT's factorized word embedding: ids -> E-dim rows -> linear map to hidden size."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.rows = nn.Embedding(vocab_size, embedding_size)
        self.project = nn.Linear(embedding_size, hidden_size, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.rows(input_ids))

    @property
    def weight(self) -> torch.Tensor:  # the effective V x H table, for code that reads it
        return self.project(self.rows.weight)
