"""Lottery tickets: iterative magnitude pruning with rewinding (Frankle & Carbin 2019).

The library never owns the training loop: `train_fn(model, on_step)` is the user's, must
build its own optimizer, call ``on_step(step)`` after every optimizer step (that is how
the weights at `rewind_step` are captured, Frankle et al. 2020) and return the metric.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from tinyai.prune.config import LotteryConfig, MagnitudePruning
from tinyai.prune.masks import apply_masks, make_permanent, masks, sparsity
from tinyai.prune.unstructured import magnitude_masks

StepHook = Callable[[int], None]
TrainFn = Callable[[nn.Module, StepHook], float]


@dataclass
class LotteryRound:
    round: int
    sparsity: float
    metric: float


@dataclass
class LotteryResult:
    model: nn.Module  # the last round's trained ticket (masks held)
    masks: dict[str, torch.Tensor]  # the winning ticket's masks
    rewind_state: dict[str, torch.Tensor]  # weights at rewind_step, before any pruning
    rounds: list[LotteryRound] = field(default_factory=list)


def lottery_ticket(
    model_fn: Callable[[], nn.Module], train_fn: TrainFn, config: LotteryConfig
) -> LotteryResult:
    model = model_fn()
    rewind: dict[str, torch.Tensor] = {}

    def capture(step: int) -> None:
        if step == config.rewind_step and not rewind:
            rewind.update(copy.deepcopy(model.state_dict()))

    if config.rewind_step == 0:
        capture(0)
    history = [LotteryRound(0, 0.0, float(train_fn(model, capture)))]
    if not rewind:  # training ended before rewind_step: rewinding there means "no rewind"
        rewind.update(copy.deepcopy(model.state_dict()))
    prune_cfg = MagnitudePruning(
        sparsity=0.0, scope=config.scope, include=config.include, exclude=config.exclude
    )
    for r in range(config.rounds):
        target = config.sparsity_after(r)
        new_masks = magnitude_masks(model, prune_cfg, target)
        rewind_to(model, rewind, new_masks)
        metric = float(train_fn(model, lambda step: None))
        history.append(LotteryRound(r + 1, sparsity(model)["__total__"], metric))
    return LotteryResult(model, masks(model), rewind, history)


def rewind_to(
    model: nn.Module, state: dict[str, torch.Tensor], new_masks: dict[str, torch.Tensor]
) -> None:
    """Reset the weights to `state` (a dense state dict) and hold `new_masks`."""
    make_permanent(model)
    model.load_state_dict(state)
    apply_masks(model, new_masks)


def random_reinit(
    model_fn: Callable[[], nn.Module], ticket_masks: dict[str, torch.Tensor], seed: int = 1234
) -> nn.Module:
    """The control experiment: the ticket's masks on a freshly (differently) initialised net."""
    torch.manual_seed(seed)
    model = model_fn()
    apply_masks(model, ticket_masks)
    return model
