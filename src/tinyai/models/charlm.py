"""A character-level language model: embedding -> GRU or LSTM -> linear.

``forward(input_ids: int64[B, T]) -> logits: float32[B, T, vocab_size]``. The recurrent state
starts at zero for every call, so a batch is one independent window of text (what training
on Tiny Shakespeare windows and ONNX export both want).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from tinyai.config import Config
from tinyai.models.base import register_model


@dataclass
class CharLMConfig(Config):
    vocab_size: int = 65
    cell: str = "gru"  # "gru" | "lstm"
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    seq_len: int = 128  # length of example inputs; the model takes any length

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {self.cell!r}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers", "seq_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@register_model(CharLMConfig)
class CharLM(nn.Module):
    kind = "char-lm"
    input_names = ("input_ids",)

    def __init__(self, config: CharLMConfig | None = None) -> None:
        super().__init__()
        # A private copy: sync_config() after pruning must not edit a config the caller shares.
        self.config = config = dataclasses.replace(config or CharLMConfig())
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        rnn_cls = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            # torch applies RNN dropout between layers only; it warns for a single layer.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embed(input_ids))
        return self.head(hidden)

    def sync_config(self) -> CharLMConfig:
        self.config.embed_dim = self.embed.embedding_dim
        self.config.hidden_size = self.rnn.hidden_size
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        shape = (batch_size, self.config.seq_len)
        return {"input_ids": torch.randint(0, self.config.vocab_size, shape, generator=gen)}
