"""Per-module parameter and MAC counts, for the dry-run table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class ModuleStats:
    type: str
    params: int
    macs: int
    shape: list[int]


def module_stats(model: nn.Module, example_inputs: Any) -> dict[str, ModuleStats]:
    """Own parameters and own MACs (excluding children) of every module that has either.

    MACs are `tinyai.measure.macs.count_macs`'s, the very numbers `tinyai.summary` shows, so
    a dry run and a summary of the same model agree.
    """
    from tinyai.measure.macs import count_macs

    macs = count_macs(model, example_inputs)
    root = type(model).__name__
    out = {}
    for name, module in model.named_modules():
        own_params = sum(p.numel() for p in module.parameters(recurse=False))
        own_macs = max(macs.get(f"{root}.{name}" if name else root, 0), 0)
        if own_params or own_macs:
            weight = getattr(module, "weight", None)
            shape = list(weight.shape) if isinstance(weight, torch.Tensor) else []
            out[name] = ModuleStats(type(module).__name__, own_params, own_macs, shape)
    return out


def total_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def stored_bytes(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Per state-dict tensor: (dense bytes, bytes with the smallest lossless codec).

    What a saved/exported pruned model really takes: zeros cost bits, not 4 bytes. Held
    masks are applied first (the forward-pass weights are what ships).
    """
    from tinyai.prune.masks import copy_model, make_permanent
    from tinyai.runtime.codecs import encode_smallest

    if any(n.endswith("_mask") for n, _ in model.named_buffers()):
        model = make_permanent(copy_model(model))
    out = {}
    for key, value in model.state_dict().items():
        array = value.detach().cpu().contiguous().numpy()
        out[key] = (array.nbytes, len(encode_smallest(array)[1]))
    return out
