"""The registered pruning handlers: what `prune_` and a recipe's prune stage run.

Each is ``handler(model, config, ctx)``. The context supplies what the technique declared it
needs (`tinyai.registry.Needs`): example inputs to trace, a loss batch for Taylor
importance, and — for a scheduled magnitude pruning — the caller's training loop, which
prunes while it trains.
"""

from __future__ import annotations

from torch import nn

from tinyai.errors import ConfigError
from tinyai.prune.config import MagnitudePruning, StructuredPruning
from tinyai.prune.masks import make_permanent
from tinyai.prune.plan import apply_plan
from tinyai.prune.serialize import remember_plan
from tinyai.prune.structured import plan
from tinyai.prune.unstructured import GradualPruner, prune_magnitude_
from tinyai.registry import StageContext
from tinyai.train import TrainHooks


def magnitude(model: nn.Module, config: MagnitudePruning, ctx: StageContext) -> nn.Module:
    """One shot, or on the AGP schedule inside the caller's training loop (`ctx.train`).

    With a training loop the masks are held while it fine-tunes (one shot) or prunes (the
    schedule), then made permanent; without one (the plain verb) they stay held, for the
    caller to fine-tune and then `make_permanent`."""
    if config.schedule is None:
        prune_magnitude_(model, config)
        if ctx.train is not None:
            ctx.train(model)
            make_permanent(model)
        return model
    if ctx.train is None:
        raise ConfigError(
            "a scheduled MagnitudePruning prunes while training: in a recipe give the stage "
            "`train:` settings; in Python call GradualPruner(model, config).step(step) after "
            "each optimizer step of your loop"
        )
    pruner = GradualPruner(model, config)
    grad_accum = ctx.train_config.grad_accum if ctx.train_config is not None else 1
    ctx.train(model, TrainHooks(before_micro_batch=pruner.hook(grad_accum)))
    pruner.step(config.schedule.end_step)
    return make_permanent(model)


def structured(model: nn.Module, config: StructuredPruning, ctx: StageContext) -> nn.Module:
    """Plan on a copy, replay the plan on `model`, remember it (the saved form replays it)."""
    if ctx.example_inputs is None:
        raise ConfigError(
            "structured pruning traces the model: pass example_inputs "
            "(e.g. task.example_inputs())"
        )
    loss_fn = ctx.loss_fn if config.importance == "taylor" else None
    the_plan = plan(model, config, ctx.example_inputs, loss_fn)
    apply_plan(model, the_plan)
    remember_plan(model, the_plan)
    return model
