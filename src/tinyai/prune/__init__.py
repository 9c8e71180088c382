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
from tinyai.measure.sensitivity import SensitivityTable
from tinyai.prune import handlers
from tinyai.prune.config import AGPSchedule, LotteryConfig, MagnitudePruning, StructuredPruning
from tinyai.prune.lottery import LotteryResult, lottery_ticket
from tinyai.prune.masks import apply_masks, copy_model, make_permanent, masks, sparsity
from tinyai.prune.plan import PruningPlan, apply_plan
from tinyai.prune.sensitivity import allocate_sparsity, sensitivity
from tinyai.prune.serialize import pruning_plans, remember_plan
from tinyai.prune.structured import LossFn, plan
from tinyai.prune.unstructured import GradualPruner, magnitude_masks

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
    "lottery_ticket",
    "magnitude_masks",
    "make_permanent",
    "masks",
    "plan",
    "prune_",
    "pruning_plans",
    "remember_plan",
    "sensitivity",
    "sparsity",
]


def prune_(
    model: nn.Module,
    config: MagnitudePruning | StructuredPruning,
    example_inputs: Any = None,
    loss_fn: LossFn | None = None,
) -> nn.Module:
    """Prune `model` in place and return it (dispatched on the config's type).

    MagnitudePruning: masks are held (fine-tune, then `make_permanent`); for the gradual
    schedule use `GradualPruner(model, config).step(step)` in your loop instead.
    StructuredPruning: needs `example_inputs` (a dict of named tensors) to trace the model,
    and `loss_fn(model) -> loss` for importance="taylor"; the applied plan is remembered on
    the model so its saved form replays it.
    """
    ctx = registry.StageContext(example_inputs=example_inputs, loss_fn=loss_fn)
    return registry.apply(model, config, ctx, kind="prune")


registry.register(
    "magnitude-pruning",
    "prune",
    MagnitudePruning,
    handlers.magnitude,
    "unstructured magnitude pruning (layer/global, AGP); zeros stored sparse",
    registry.Needs(training="optional"),
    finalize=make_permanent,
)
registry.register(
    "structured-pruning",
    "prune",
    StructuredPruning,
    handlers.structured,
    "remove channels/neurons/heads/FFN units; a smaller module, plan saved as JSON",
    registry.Needs(example_inputs=True, loss=True, training="optional"),
)
