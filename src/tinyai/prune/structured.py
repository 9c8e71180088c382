"""Structured pruning: plan on a copy (dry run), then replay the plan on the real model.

Channels of convolutions and neurons of linear/recurrent layers go through Torch-Pruning's
dependency graph, which finds every coupled layer (batch norm, residual additions,
depthwise/grouped convolutions, concatenations, the next layer's inputs). Attention heads
and FFN units of BERT-style encoders go through `transformer.py`.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tinyai.errors import ConfigError
from tinyai.measure.macs import call as run_model
from tinyai.models.ties import tied_groups
from tinyai.prune import transformer
from tinyai.prune.config import StructuredPruning
from tinyai.prune.masks import copy_model
from tinyai.prune.plan import LayerChange, PruningPlan
from tinyai.prune.recurrent import RecurrentPruner
from tinyai.prune.stats import ModuleStats, module_stats

LossFn = Callable[[nn.Module], torch.Tensor]
_RNN_TYPES = (nn.GRU, nn.LSTM, nn.RNN)


def plan(
    model: nn.Module, config: StructuredPruning, example_inputs: Any, loss_fn: LossFn | None = None
) -> PruningPlan:
    """Dry run: what `config` would remove from `model`, per layer; `model` is untouched.

    `loss_fn(model) -> scalar loss` is needed for importance="taylor" (a batch or a few of
    the user's data); it is called on the copy being planned.
    """
    if any(n.endswith("_mask") for n, _ in model.named_buffers()):
        raise ConfigError(
            "the model holds unstructured pruning masks; call "
            "tinyai.prune.make_permanent(model) before structured pruning"
        )
    if config.importance == "taylor" and loss_fn is None:
        raise ConfigError(
            "importance='taylor' needs gradients: pass loss_fn=lambda m: "
            "<loss of m on a batch> to plan()/prune_()"
        )
    work = copy_model(model).eval()
    before = module_stats(work, example_inputs)
    ops: list[dict[str, Any]] = []
    is_transformer = bool(transformer.attention_blocks(work))
    wants_width = {"channels", "neurons"} & set(config.targets)
    if wants_width and is_transformer:
        raise ConfigError(
            "channel/neuron pruning of transformer encoders is not supported; "
            "use targets=('heads', 'ffn')"
        )
    if {"heads", "ffn"} & set(config.targets) and not is_transformer:
        raise ConfigError(
            "targets 'heads'/'ffn' need a BERT-style encoder (query/key/value "
            "and intermediate/output layers); use ('channels', 'neurons')"
        )
    if is_transformer:
        ops += transformer.prune_heads_and_ffn(work, config, loss_fn)
    else:
        ops += _prune_with_dependency_graph(work, config, example_inputs, loss_fn)
    after = module_stats(work, example_inputs)
    rows, totals = _table(before, after, ops)
    return PruningPlan(config.to_dict(), ops, rows, totals, _base_config(model))


def _base_config(model: nn.Module) -> dict[str, Any] | None:
    try:
        from tinyai.models.base import is_tinyai_model
    except ImportError:
        return None
    return model.config.to_dict() if is_tinyai_model(model) else None


def _prune_with_dependency_graph(
    work: nn.Module, config: StructuredPruning, example_inputs: Any, loss_fn: LossFn | None
) -> list[dict[str, Any]]:
    import torch_pruning as tp

    importance = {
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "l2": lambda: tp.importance.MagnitudeImportance(p=2),
        "taylor": tp.importance.TaylorImportance,
    }[config.importance]()
    with warnings.catch_warnings():  # bare parameters (a class token) are sliced and replayed
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        pruner = _pruner(tp, work, config, example_inputs, importance)
    if loss_fn is not None and config.importance == "taylor":
        work.zero_grad()
        loss_fn(work).backward()
    names = {m: n for n, m in work.named_modules()}
    tied = {work.get_submodule(m): " = ".join(f"{m}.{a}" for m, a in group)
            for group in tied_groups(work) for m, _ in group}
    ops: list[dict[str, Any]] = []
    kept_whole: set[str] = set()
    for group in pruner.step(interactive=True):
        touched = [tied[dep.target.module] for dep, _ in group if dep.target.module in tied]
        if touched:  # slicing one owner of a tied weight would untie it
            kept_whole.update(touched)
            continue
        for dep, idxs in group:
            module, handler = dep.target.module, dep.handler
            if isinstance(module, nn.Parameter):  # a bare parameter (a ViT's class token)
                owner, _, attr = pruner.DG._param_to_name[module].rpartition(".")
                ops.append({"module": owner, "fn": "parameter", "parameter": attr,
                            "dim": int(dep.target.pruning_dim),
                            "idxs": sorted(int(i) for i in idxs)})
            elif module in names and hasattr(handler, "__self__"):
                fn = f"{type(handler.__self__).__name__}.{handler.__name__}"
                idx_list = sorted(int(i) for i in idxs)
                ops.append({"module": names[module], "fn": fn, "idxs": idx_list})
        group.prune()
    work.zero_grad(set_to_none=True)
    _report_tied(work, kept_whole, pruned=bool(ops))
    return ops


def _report_tied(model: nn.Module, kept_whole: set[str], pruned: bool) -> None:
    """Say which units stayed because they slice a tied weight; refuse when that is all."""
    if not kept_whole:
        return
    names = ", ".join(sorted(kept_whole))
    if not pruned:
        raise ConfigError(f"structured pruning cannot shrink {type(model).__name__}: every "
                          f"prunable group slices the tied weight {names} (removing units on "
                          "one side would untie it); use unstructured pruning")
    warnings.warn(f"structured pruning kept the units that slice the tied weight {names} "
                  "(removing them on one side would untie it)", stacklevel=4)


def _root_types(config: StructuredPruning) -> list[type]:
    root_types: list[type] = []
    if "channels" in config.targets:
        root_types += [nn.Conv1d, nn.Conv2d, nn.Conv3d]
    if "neurons" in config.targets:
        root_types += [nn.Linear, *_RNN_TYPES]
    return root_types


def _pruner(tp: Any, work: nn.Module, config: StructuredPruning, example_inputs: Any,
            importance: Any) -> Any:
    recurrent = RecurrentPruner()
    return tp.pruner.MetaPruner(
        work,
        example_inputs,
        importance=importance,
        pruning_ratio=config.ratio,
        global_pruning=config.global_ranking,
        ignored_layers=_ignored(work, config, example_inputs),
        round_to=config.round_to,
        root_module_types=_root_types(config),
        customized_pruners={t: recurrent for t in _RNN_TYPES},
        forward_fn=run_model,  # the task's named inputs bound to the model's own parameters
    )


def _ignored(work: nn.Module, config: StructuredPruning, example_inputs: Any) -> list[nn.Module]:
    """Modules matching `config.ignored`, plus the last layer so the output shape is kept."""
    ignored = [
        m
        for n, m in work.named_modules()
        if n and any(fnmatch.fnmatchcase(n, p) for p in config.ignored)
    ]
    order: list[nn.Module] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o: order.append(mod))
        for m in work.modules()
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.RNNBase)
    ]
    with torch.no_grad():
        run_model(work, example_inputs)
    for h in hooks:
        h.remove()
    if order:
        ignored.append(order[-1])
    return ignored


def _table(
    before: dict[str, ModuleStats], after: dict[str, ModuleStats], ops: list[dict[str, Any]]
) -> tuple[list[LayerChange], dict[str, int]]:
    removed: dict[str, list[str]] = {}
    for op in ops:
        if op.get("fn") == "parameter":
            removed.setdefault(op["module"], []).append(f"{op['parameter']} -{len(op['idxs'])}")
        elif "idxs" in op:
            kind = "out" if op["fn"].endswith("out_channels") else "in"
            removed.setdefault(op["module"], []).append(f"{kind} -{len(op['idxs'])}")
        else:
            removed.setdefault(op["module"], []).append(
                ", ".join(f"{k}={v}" for k, v in op["set"].items())
            )
    rows = []
    # Modules changed only in attributes (a head count) may have no parameters of their own.
    names = list(before) + [n for n in removed if n not in before]
    for name in names:
        b = before.get(name, ModuleStats("-", 0, 0, []))
        a = after.get(name, ModuleStats(b.type, 0, 0, []))
        if (a.params, a.macs, a.shape) == (b.params, b.macs, b.shape) and name not in removed:
            continue
        rows.append(
            LayerChange(
                name or "<root>",
                b.type,
                "; ".join(removed.get(name, [])) or "-",
                b.shape,
                a.shape,
                b.params,
                a.params,
                b.macs,
                a.macs,
            )
        )
    totals = {
        "params_before": sum(s.params for s in before.values()),
        "params_after": sum(s.params for s in after.values()),
        "macs_before": sum(s.macs for s in before.values()),
        "macs_after": sum(s.macs for s in after.values()),
    }
    return rows, totals
