"""Unstructured magnitude pruning, one-shot or gradual (AGP), layer-wise or global."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tinyai.errors import ConfigError
from tinyai.prune.config import MagnitudePruning
from tinyai.prune.masks import apply_masks, current_weight, prunable_weights


def magnitude_masks(
    model: nn.Module, config: MagnitudePruning, sparsity: float | None = None
) -> dict[str, torch.Tensor]:
    """Masks (1 = keep) that zero the smallest-magnitude weights; does not touch the model.

    Ranking uses the weights as the forward pass sees them, so an already-pruned weight has
    magnitude 0 and stays pruned: masks only grow as the schedule raises the sparsity.
    """
    target = config.sparsity if sparsity is None else sparsity
    selected = prunable_weights(model, config.include, config.exclude)
    if not selected:
        raise ConfigError(
            "no weights match the include/exclude patterns; check the names "
            "with `tinyai summary` or model.named_parameters()"
        )
    weights = {full: current_weight(module, attr) for full, module, attr in selected}
    scale = target / config.sparsity if config.sparsity > 0 else 0.0
    per_layer = {n: s * scale for n, s in config.layer_sparsity.items()}
    out: dict[str, torch.Tensor] = {}
    if config.scope == "global":
        rest = {n: w for n, w in weights.items() if n not in per_layer}
        if rest:
            out.update(_global_masks(rest, target))
    else:
        per_layer = {n: per_layer.get(n, target) for n in weights}
    for name, s in per_layer.items():
        if name in weights:
            out[name] = _layer_mask(weights[name], s)
    return out


def _layer_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    n_prune = round(sparsity * weight.numel())
    mask = torch.ones(weight.numel(), dtype=torch.bool)
    if n_prune:
        # argsort instead of a threshold: ties never push the count past the target.
        mask[torch.argsort(weight.abs().flatten(), stable=True)[:n_prune]] = False
    return mask.view_as(weight)


def _global_masks(weights: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    flat = torch.cat([w.abs().flatten().float() for w in weights.values()])
    keep = _layer_mask(flat, sparsity)
    out, start = {}, 0
    for name, w in weights.items():
        out[name] = keep[start : start + w.numel()].view_as(w)
        start += w.numel()
    return out


def prune_magnitude_(model: nn.Module, config: MagnitudePruning) -> nn.Module:
    """Hold masks at the final sparsity now (one shot); fine-tune, then `make_permanent`."""
    apply_masks(model, magnitude_masks(model, config))
    return model


class GradualPruner:
    """Raises sparsity along the AGP schedule while the user's loop trains.

    Call ``pruner.step(step)`` (alias ``on_step``) after each optimizer step, from any loop;
    masks are held, so zeros survive the optimizer between updates.
    """

    def __init__(self, model: nn.Module, config: MagnitudePruning) -> None:
        if config.schedule is None:
            raise ConfigError("GradualPruner needs MagnitudePruning(schedule=AGPSchedule(...))")
        self.model = model
        self.config = config
        self.current_sparsity = -1.0
        self.step(0)

    def target_at(self, step: int) -> float:
        assert self.config.schedule is not None
        return self.config.schedule.sparsity_at(step, self.config.sparsity)

    def step(self, step: int) -> float:
        target = self.target_at(step)
        if target != self.current_sparsity:
            apply_masks(self.model, magnitude_masks(self.model, self.config, target))
            self.current_sparsity = target
        return target

    def on_step(self, step: int, *args: object, **kwargs: object) -> None:
        self.step(step)

    def hook(self, grad_accum: int = 1) -> Callable[[], None]:
        """A no-argument callable to call once per micro-batch (e.g. first thing in the
        loss function given to tinyai.train.train, which has no step callbacks): it counts
        calls and updates the masks before the optimizer step they belong to."""
        calls = [0]

        def before_micro_batch() -> None:
            self.step(calls[0] // grad_accum)
            calls[0] += 1

        return before_micro_batch
