"""Pruning that changes what ships: sparse weights stored compactly, smaller modules.

- `prune_(model, MagnitudePruning(...))`: unstructured masks, held through training;
  `GradualPruner(model, config)` raises sparsity on the AGP schedule from any loop
  (`.step(step)`, or `.hook()` called first thing in the loss given to tinyai.train);
  `make_permanent` bakes the zeros; saved and exported, they are stored sparse
  (tinyai.runtime.codecs.sparse), and `stats.stored_bytes` reports the real bytes.
- `plan(model, StructuredPruning(...), example_inputs)`: dry run table; `apply_plan`
  replays it; `prune_` does both. The result is an ordinary smaller nn.Module.
- `lottery_ticket`, `sensitivity` / `allocate_sparsity`.
- Saved with `tinyai.save_model` like any model: plans and held masks are recorded in the
  model directory (`tinyai.prune.serialize`), sparse weights stored packed.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tinyai import registry
from tinyai.errors import ConfigError
from tinyai.prune.config import AGPSchedule, LotteryConfig, MagnitudePruning, StructuredPruning
from tinyai.prune.lottery import LotteryResult, lottery_ticket
from tinyai.prune.masks import apply_masks, copy_model, make_permanent, masks, sparsity
from tinyai.prune.plan import PruningPlan, apply_plan
from tinyai.prune.sensitivity import SensitivityTable, allocate_sparsity, sensitivity
from tinyai.prune.serialize import load_pruned, pruning_plans, remember_plan, save_pruned
from tinyai.prune.stage import run_stage
from tinyai.prune.structured import LossFn, plan
from tinyai.prune.unstructured import GradualPruner, magnitude_masks, prune_magnitude_

__all__ = [
    "AGPSchedule",
    "GradualPruner",
    "LotteryConfig",
    "LotteryResult",
    "MagnitudePruning",
    "PruningPlan",
    "SensitivityTable",
    "StructuredPruning",
    "allocate_sparsity",
    "apply_masks",
    "apply_plan",
    "copy_model",
    "load_pruned",
    "lottery_ticket",
    "magnitude_masks",
    "make_permanent",
    "masks",
    "plan",
    "prune_",
    "pruning_plans",
    "save_pruned",
    "sensitivity",
    "sparsity",
]


def prune_(
    model: nn.Module,
    config: MagnitudePruning | StructuredPruning,
    example_inputs: Any = None,
    loss_fn: LossFn | None = None,
) -> nn.Module:
    """Prune `model` in place and return it.

    MagnitudePruning: masks are held (fine-tune, then `make_permanent`); for the gradual
    schedule use `GradualPruner(model, config).step(step)` in your loop instead.
    StructuredPruning: needs `example_inputs` (a dict of named tensors) to trace the model;
    the applied plan is remembered on the model so `tinyai.save_model` stores it.
    """
    if isinstance(config, MagnitudePruning):
        if config.schedule is not None:
            raise ConfigError(
                "a scheduled MagnitudePruning prunes during training: call "
                "GradualPruner(model, config).step(step) after each optimizer step"
            )
        return prune_magnitude_(model, config)
    if isinstance(config, StructuredPruning):
        if example_inputs is None:
            raise ConfigError(
                "structured pruning traces the model: pass example_inputs "
                "(e.g. task.example_inputs())"
            )
        the_plan = plan(model, config, example_inputs, loss_fn)
        apply_plan(model, the_plan)
        remember_plan(model, the_plan)
        return model
    raise ConfigError(
        f"prune_ takes MagnitudePruning or StructuredPruning, got {type(config).__name__}"
    )


registry.register(
    "magnitude-pruning",
    "prune",
    MagnitudePruning,
    run_stage,
    "unstructured magnitude pruning (layer/global, AGP); zeros stored sparse",
)
registry.register(
    "structured-pruning",
    "prune",
    StructuredPruning,
    run_stage,
    "remove channels/neurons/heads/FFN units; a smaller module, plan saved as JSON",
)
