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


def run_model(model: nn.Module, example_inputs: Any) -> Any:
    if isinstance(example_inputs, dict):
        return model(**example_inputs)
    if isinstance(example_inputs, tuple | list):
        return model(*example_inputs)
    return model(example_inputs)


def module_stats(model: nn.Module, example_inputs: Any) -> dict[str, ModuleStats]:
    """Own parameters and own MACs (excluding children) of every module that has either.

    MACs come from torch.utils.flop_counter (FLOPs / 2), which also counts the attention
    matmuls that a parameter-based estimate would miss.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run_model(model, example_inputs)
    model.train(was_training)
    flops: dict[str, int] = {}
    for key, by_op in counter.get_flop_counts().items():
        if key == "Global":
            continue
        path = key.partition(".")[2]  # drop the root class name
        flops[path] = int(sum(by_op.values()))
    out = {}
    for name, module in model.named_modules():
        own_params = sum(p.numel() for p in module.parameters(recurse=False))
        child_flops = sum(
            flops.get(f"{name}.{c}" if name else c, 0) for c, _ in module.named_children()
        )
        own_macs = max(flops.get(name, 0) - child_flops, 0) // 2
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
