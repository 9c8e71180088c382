"""Character-level language models: a GRU/LSTM (`CharLM`) and a nanoGPT-style transformer.

Both map ``input_ids: int64[B, T] -> logits: float32[B, T, vocab_size]``. Called that way the
state starts empty, so a batch is one independent window of text (what training on Tiny
Shakespeare windows wants).

**State between calls.** A keyboard or a generator adds one character at a time; re-running
the whole prefix for each would cost O(prefix) per character. So both models also take the
state the previous call left and return the new one:

    logits, state_out = model(input_ids, state=state)                       # CharLM
    logits, state_out = model(input_ids, state=state, position=position)    # CharTransformer

`initial_state(batch_size)` is the empty state (zeros, and ``position`` 0), and it is what
`tinyai.export` traces with, so every char-LM artifact carries ``state`` -> ``state_out``;
the runtime feeds it back automatically (tinyai.runtime.charlm). The state is batch-first,
so a beam search forks it by indexing rows.

* `CharLM`: ``state`` is the hidden state, ``[B, num_layers, hidden_size]`` for a GRU and
  ``[B, num_layers, 2 * hidden_size]`` (h then c) for an LSTM; it can carry any length.
* `CharTransformer`: ``state`` is a fixed-size key/value cache
  ``[B, n_layer, 2, n_head, block_size, head_dim]`` and ``position`` (int64, 0-d) the number
  of characters already in it; the new characters take the slots ``position ...``. A fixed
  size keeps every tensor shape static (what mobile runtimes want) and the graph free of
  data-dependent shapes; the caller must keep ``position + T <= block_size``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from tinyai.config import Config
from tinyai.models.base import register_model

# The state input -> the output carrying it to the next call (read by tinyai.export).
STATE_NAMES = {"state": "state_out"}


def _device(model: nn.Module) -> torch.device:
    # Not a layer's .weight: quantized layers keep their weights under other names.
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


def _example_ids(batch_size: int, seq_len: int, vocab_size: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(0, vocab_size, (batch_size, seq_len), generator=gen)}


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
    """Embedding -> GRU or LSTM -> linear."""

    kind = "char-lm"
    input_names = ("input_ids",)
    state_names: ClassVar[dict[str, str]] = STATE_NAMES

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

    def forward(
        self, input_ids: torch.Tensor, state: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            hidden, _ = self.rnn(self.embed(input_ids))
            return self.head(hidden)
        # torch keeps RNN states layer-first; the artifact's state is batch-first.
        layers_first = state.transpose(0, 1).contiguous()
        if self._lstm():
            h0, c0 = layers_first.chunk(2, dim=-1)
            hidden, (h, c) = self.rnn(self.embed(input_ids), (h0.contiguous(), c0.contiguous()))
            new_state = torch.cat([h, c], dim=-1)
        else:
            hidden, new_state = self.rnn(self.embed(input_ids), layers_first)
        return self.head(hidden), new_state.transpose(0, 1)

    def initial_state(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        width = self.rnn.hidden_size * (2 if self._lstm() else 1)
        shape = (batch_size, self.rnn.num_layers, width)
        return {"state": torch.zeros(shape, device=_device(self))}

    def _lstm(self) -> bool:
        # The layer's mode, not its class: quantize_ swaps nn.LSTM for an Int8WeightRNN.
        return self.rnn.mode == "LSTM"

    def sync_config(self) -> CharLMConfig:
        self.config.embed_dim = self.embed.embedding_dim
        self.config.hidden_size = self.rnn.hidden_size
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        return _example_ids(batch_size, self.config.seq_len, self.config.vocab_size)


@dataclass
class CharTransformerConfig(Config):
    """A GPT as in nanoGPT's model.py. block_size: the longest context (and the cache's size).

    nanoGPT's CPU Shakespeare configuration is n_layer=4, n_head=4, n_embd=128,
    block_size=64 (about 0.8M parameters, 1.88 validation loss).
    """

    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    dropout: float = 0.0
    seq_len: int = 128  # length of example inputs (<= block_size)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "block_size", "seq_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.seq_len > self.block_size:
            raise ValueError(f"seq_len ({self.seq_len}) must be <= block_size ({self.block_size})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class _SelfAttention(nn.Module):
    def __init__(self, config: CharTransformerConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor, cache: tuple[torch.Tensor, ...] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`allowed` [T, S]: which key slot each query may see; `cache` = (keys, values,
        write [T, S]) with keys/values [B, H, S, D], or None to attend within `x` alone."""
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        new_cache = None
        if cache is not None:
            keys, values, write = cache
            # Slot s takes the new character t where write[t, s] = 1; a one-hot matmul is
            # exact (x*1 + 0*y) and exports to plain MatMul, unlike an indexed scatter.
            keep = 1.0 - write.sum(dim=0)[:, None]
            k = keys * keep + write.transpose(0, 1) @ k
            v = values * keep + write.transpose(0, 1) @ v
            new_cache = torch.stack([k, v], dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~allowed, float("-inf"))
        attended = self.dropout(torch.softmax(scores, dim=-1)) @ v
        out = attended.transpose(1, 2).reshape(batch, length, width)
        return self.proj(out), new_cache


class _Block(nn.Module):
    def __init__(self, config: CharTransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = _SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor, cache: tuple[torch.Tensor, ...] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, new_cache = self.attn(self.ln_1(x), allowed, cache)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), new_cache


@register_model(CharTransformerConfig)
class CharTransformer(nn.Module):
    """Token + learned position embeddings, pre-LayerNorm blocks, a final LayerNorm and an
    output layer (not tied to the embedding: tying saves only vocab x n_embd weights here, and
    an untied head quantizes and prunes like any other Linear)."""

    kind = "char-lm"
    input_names = ("input_ids",)
    state_names: ClassVar[dict[str, str]] = STATE_NAMES

    def __init__(self, config: CharTransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config = dataclasses.replace(config or CharTransformerConfig())
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # nanoGPT's initialisation: N(0, 0.02) weights, zero biases.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        state: torch.Tensor | None = None,
        position: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        length = input_ids.shape[1]
        steps = torch.arange(length, device=input_ids.device)
        if state is None:
            allowed = steps[None, :] <= steps[:, None]  # causal, within the window
            x = self.drop(self.wte(input_ids) + self.wpe(steps))
            for block in self.blocks:
                x, _ = block(x, allowed, None)
            return self.head(self.ln_f(x))
        start = position if position is not None else torch.zeros((), dtype=torch.long)
        positions = start + steps  # [T]
        slots = torch.arange(state.shape[4], device=input_ids.device)  # [S]
        allowed = slots[None, :] <= positions[:, None]  # [T, S]: the past and itself
        write = (slots[None, :] == positions[:, None]).to(state.dtype)
        x = self.drop(self.wte(input_ids) + self.wpe(positions))
        caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, allowed, (state[:, i, 0], state[:, i, 1], write))
            caches.append(cache)
        return self.head(self.ln_f(x)), torch.stack(caches, dim=1)

    def initial_state(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        cfg, device = self.config, _device(self)
        shape = (batch_size, len(self.blocks), 2, cfg.n_head, cfg.block_size, self._head_dim())
        return {
            "state": torch.zeros(shape, device=device),
            "position": torch.zeros((), dtype=torch.long, device=device),
        }

    def _head_dim(self) -> int:
        return self.blocks[0].attn.qkv.out_features // 3 // self.config.n_head

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        return _example_ids(batch_size, self.config.seq_len, self.config.vocab_size)
