"""Attention-head and FFN-unit pruning for BERT-style encoders (Hugging Face BERT/MiniLM).

Written by hand because Torch-Pruning's attention support targets nn.MultiheadAttention and
timm-style qkv layers: on HF BERT it removes head *dimensions* (every head gets thinner)
unless told each layer's head count, and newer transformers no longer ship prune_heads.
A head h is rows [h*d, (h+1)*d) of query/key/value and the same columns of the attention
output projection; an FFN unit j is row j of intermediate.dense and column j of output.dense.
The forward pass infers the head count from the sliced shapes (view(..., -1, d)); we also
update num_attention_heads/all_head_size so the module stays self-consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tinyai.prune.config import StructuredPruning
from tinyai.prune.plan import run_op


@dataclass
class AttentionBlock:
    name: str  # the self-attention module (has query/key/value)
    output: str  # the projection that consumes the concatenated heads
    head_size: int


@dataclass
class FFNBlock:
    up: str  # hidden -> intermediate
    down: str  # intermediate -> hidden


def attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    blocks = []
    modules = dict(model.named_modules())
    for name, m in modules.items():
        if all(
            isinstance(getattr(m, a, None), nn.Linear) for a in ("query", "key", "value")
        ) and hasattr(m, "attention_head_size"):
            parent = name.rpartition(".")[0]
            out = f"{parent}.output.dense" if parent else "output.dense"
            if isinstance(modules.get(out), nn.Linear):
                blocks.append(AttentionBlock(name, out, int(m.attention_head_size)))
    return blocks


def ffn_blocks(model: nn.Module) -> list[FFNBlock]:
    blocks = []
    modules = dict(model.named_modules())
    for name, _ in modules.items():
        up, down = f"{name}.intermediate.dense", f"{name}.output.dense"
        if (
            isinstance(modules.get(up), nn.Linear)
            and isinstance(modules.get(down), nn.Linear)
            and modules[down].in_features == modules[up].out_features
        ):
            blocks.append(FFNBlock(up, down))
    return blocks


def _unit_scores(
    rows: list[nn.Linear], cols: list[nn.Linear], n_units: int, size: int, importance: str
) -> torch.Tensor:
    """Score of each unit = aggregate over its rows (producers) and columns (consumer)."""
    total = torch.zeros(n_units)
    for layer, dim in [(r, 0) for r in rows] + [(c, 1) for c in cols]:
        for tensor in (layer.weight, layer.bias if dim == 0 else None):
            if tensor is None:
                continue
            t = tensor.detach()
            if importance == "taylor":
                if tensor.grad is None:
                    continue
                t = (t * tensor.grad).abs()
            elif importance == "l1":
                t = t.abs()
            else:
                t = t.pow(2)
            t = t if dim == 0 else t.transpose(0, 1)
            total += t.reshape(n_units, size, -1).sum(dim=(1, 2)).float()
    return total.sqrt() if importance == "l2" else total


def _lowest(scores: torch.Tensor, ratio: float) -> list[int]:
    n_remove = min(round(ratio * len(scores)), len(scores) - 1)  # always keep one unit
    return sorted(torch.argsort(scores, stable=True)[:n_remove].tolist())


def prune_heads_and_ffn(
    model: nn.Module, config: StructuredPruning, loss_fn: Callable[[nn.Module], torch.Tensor] | None
) -> list[dict[str, Any]]:
    """Slice `model` in place; returns the ops that reproduce it."""
    if config.importance == "taylor" and loss_fn is not None:
        model.zero_grad()
        loss_fn(model).backward()
    get = model.get_submodule
    ops: list[dict[str, Any]] = []
    if "heads" in config.targets:
        for block in attention_blocks(model):
            attn, d = get(block.name), block.head_size
            qkv = [attn.query, attn.key, attn.value]
            n_heads = attn.query.out_features // d
            scores = _unit_scores(qkv, [get(block.output)], n_heads, d, config.importance)
            heads = _lowest(scores, config.ratio)
            if not heads:
                continue
            channels = [h * d + i for h in heads for i in range(d)]
            ops += [
                {
                    "module": f"{block.name}.{p}",
                    "fn": "LinearPruner.prune_out_channels",
                    "idxs": channels,
                }
                for p in ("query", "key", "value")
            ]
            ops.append(
                {"module": block.output, "fn": "LinearPruner.prune_in_channels", "idxs": channels}
            )
            kept = n_heads - len(heads)
            ops.append(
                {
                    "module": block.name,
                    "set": {"num_attention_heads": kept, "all_head_size": kept * d},
                }
            )
    if "ffn" in config.targets:
        for ffn in ffn_blocks(model):
            up = get(ffn.up)
            scores = _unit_scores([up], [get(ffn.down)], up.out_features, 1, config.importance)
            units = _lowest(scores, config.ratio)
            if units:
                ops.append(
                    {"module": ffn.up, "fn": "LinearPruner.prune_out_channels", "idxs": units}
                )
                ops.append(
                    {"module": ffn.down, "fn": "LinearPruner.prune_in_channels", "idxs": units}
                )
    model.zero_grad(set_to_none=True)
    for op in ops:
        run_op(model, op)
    return ops
