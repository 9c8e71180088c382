"""How pruning is recorded in a model directory (`tinyai.models.dir` owns the format).

Two record types, registered when `tinyai.prune` is imported:

- ``pruning-plan`` (phase BASE): each structured plan `prune_` applied, oldest first; loading
  replays the plans on the base architecture (`PruningPlan.base_config`), so even widths no
  config field names (an FFN, a GRU's hidden size) come back.
- ``held-masks`` (phase HOLDS): the weights whose masks are still held for training; loading
  holds masks on them again before the state dict (``weight_orig`` and ``weight_mask``) is
  loaded, so fine-tuning resumes with the same zeros fixed. Masks that were made permanent
  are plain zeros, which the weights file stores packed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tinyai.models.dir import BASE, HOLDS, RecordType, register_record_type
from tinyai.prune.masks import masks, set_mask
from tinyai.prune.plan import PruningPlan, apply_plan

PLAN_ATTR = "tinyai_pruning_plans"


def pruning_plans(model: nn.Module) -> list[PruningPlan]:
    """The structured plans applied to `model` by prune_, oldest first."""
    return [PruningPlan.from_dict(p) for p in getattr(model, PLAN_ATTR, [])]


def remember_plan(model: nn.Module, the_plan: PruningPlan) -> None:
    """Record on `model` that `the_plan` was applied to it (saved with the model)."""
    object.__setattr__(model, PLAN_ATTR, [*getattr(model, PLAN_ATTR, []), the_plan.to_dict()])


def _capture_plans(model: nn.Module) -> list[dict[str, Any]]:
    return [{"plan": plan} for plan in getattr(model, PLAN_ATTR, [])]


def _replay_plan(model: nn.Module, record: dict[str, Any]) -> None:
    the_plan = PruningPlan.from_dict(record["plan"])
    apply_plan(model, the_plan)
    remember_plan(model, the_plan)


def _capture_masks(model: nn.Module) -> list[dict[str, Any]]:
    held = sorted(masks(model))
    return [{"weights": held}] if held else []


def _replay_masks(model: nn.Module, record: dict[str, Any]) -> None:
    # All-ones placeholders give the module its weight_orig / weight_mask entries; the strict
    # state-dict load then fills in the saved values of both.
    for name in record["weights"]:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        set_mask(module, attr, torch.ones_like(getattr(module, attr)))


register_record_type(
    RecordType(
        "pruning-plan",
        BASE,
        _capture_plans,
        _replay_plan,
        base_config=lambda record: record["plan"].get("base_config"),
    )
)
register_record_type(RecordType("held-masks", HOLDS, _capture_masks, _replay_masks))
