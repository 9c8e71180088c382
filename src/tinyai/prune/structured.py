"""Structured pruning: plan on a copy (dry run), then replay the plan on the real model.

Channels of convolutions and neurons of linear/recurrent layers go through Torch-Pruning's
dependency graph, which finds every coupled layer (batch norm, residual additions,
depthwise/grouped convolutions, concatenations, the next layer's inputs). Attention heads
and FFN units of BERT-style encoders go through `transformer.py`. Attention that packs q, k
and v into one Linear (CharTransformer, nanoGPT, timm) keeps its attention layers and residual
width whole (`packed_attention`), and its MLPs shrink. What Torch-Pruning still cannot slice
is one ConfigError line naming the layer to exclude.
"""

from __future__ import annotations

import contextlib
import fnmatch
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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
# The attributes an attention module keeps its head count in (nanoGPT, timm and others).
_HEAD_COUNTS = ("n_head", "num_heads", "n_heads")


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
    if config.targets is None:  # the default: the units this model has
        config = replace(config, targets=("heads", "ffn") if is_transformer
                         else ("channels", "neurons"))
    wants_width = {"channels", "neurons"} & set(config.targets)
    if wants_width and is_transformer:
        raise ConfigError(
            "channel/neuron pruning of transformer encoders is not supported; "
            "use targets=('heads', 'ffn')"
        )
    if {"heads", "ffn"} & set(config.targets) and not is_transformer:
        if "heads" in config.targets:
            _refuse_heads_of_packed_attention(work)
        raise ConfigError(
            "targets 'heads'/'ffn' need a BERT-style encoder (query/key/value "
            "and intermediate/output layers); use ('channels', 'neurons')"
        )
    if is_transformer:
        ops += transformer.prune_heads_and_ffn(work, config, loss_fn)
    else:
        ops += _prune_with_dependency_graph(work, config, example_inputs, loss_fn)
    after = _stats_after_pruning(work, example_inputs, ops)
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
    names = {m: n for n, m in work.named_modules()}
    with _inside_torch_pruning(work, names):
        pruner = _pruner(tp, work, config, example_inputs, importance)
    if loss_fn is not None and config.importance == "taylor":
        work.zero_grad()
        loss_fn(work).backward()
    with _inside_torch_pruning(work, names):
        ops, kept_whole = _slice_groups(work, pruner, names)
    work.zero_grad(set_to_none=True)
    _report_tied(work, kept_whole, pruned=bool(ops))
    return ops


def _slice_groups(work: nn.Module, pruner: Any,
                  names: dict[nn.Module, str]) -> tuple[list[dict[str, Any]], set[str]]:
    """Prune every group the pruner ranks, recording each slice as a replayable op; groups
    that slice a tied weight are kept whole (their names are returned)."""
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
    return ops, kept_whole


@contextlib.contextmanager
def _inside_torch_pruning(work: nn.Module, names: dict[nn.Module, str]) -> Iterator[None]:
    """Torch-Pruning quiet, and its failure one ConfigError line naming the layer to exclude.

    It warns about what it decides for us (bare parameters such as a class token are sliced
    and replayed; an op it does not know is treated as element-wise, which the forward after
    pruning checks): a user pruning a model needs none of it.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"torch_pruning(\.|$)")
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            yield
    except (IndexError, KeyError, RuntimeError, ValueError, AssertionError) as exc:
        raise _torch_pruning_failed(work, _failing_layer(exc, names), exc) from exc


def _failing_layer(exc: BaseException, names: dict[nn.Module, str]) -> str:
    """The root layer of the group Torch-Pruning was ranking or slicing when it failed: the
    innermost frame holding a `group` (its loops' and ours') names it; '' if none does."""
    layer, tb = "", exc.__traceback__
    while tb is not None:
        group = tb.tb_frame.f_locals.get("group")
        with contextlib.suppress(TypeError, IndexError, KeyError, AttributeError):  # not one
            layer = names.get(group[0][0].target.module, layer)  # type: ignore[index]
        tb = tb.tb_next
    return layer


def _torch_pruning_failed(work: nn.Module, layer: str, exc: BaseException) -> ConfigError:
    """One line for a model Torch-Pruning's dependency graph cannot slice: where, and the fix."""
    where = f" at {layer}" if layer else ""
    fix = (f"exclude it with ignored=[{layer!r}] (CLI: --exclude {layer})" if layer else
           "exclude the layers it cannot trace with ignored=['name.*'] (CLI: --exclude)")
    return ConfigError(f"structured pruning of {type(work).__name__} failed inside "
                       f"torch-pruning{where} ({_cause(exc)}); {fix}, or use unstructured pruning")


def _stats_after_pruning(work: nn.Module, example_inputs: Any,
                         ops: list[dict[str, Any]]) -> dict[str, ModuleStats]:
    """The pruned copy's figures; a forward that no longer runs (it ties a width to layers
    the dependency graph cannot see, e.g. by splitting a tensor by another's width) is one
    line naming the layers whose outputs were sliced, the ones to exclude."""
    try:
        return module_stats(work, example_inputs)
    except (RuntimeError, ValueError, IndexError) as exc:
        sliced = sorted({op["module"] for op in ops
                         if str(op.get("fn", "")).endswith("prune_out_channels")})
        names = ", ".join(sliced) or "no layer"
        raise ConfigError(
            f"{type(work).__name__} no longer runs after structured pruning sliced the outputs "
            f"of {names} ({_cause(exc)}); its forward ties one of these widths to another "
            "tensor's (a split or reshape by it), which the dependency graph does not see: "
            "exclude that layer with ignored=[...] (CLI: --exclude NAME)") from exc


def _cause(exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


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


@dataclass
class PackedAttention:
    """Self-attention whose q, k and v come from one Linear of 3 x width outputs and whose
    head count is an attribute (nanoGPT's and tinyai's CharTransformer's `qkv`/`n_head`,
    timm's `qkv`/`num_heads`)."""

    name: str  # the attention module
    qkv: str  # the packed projection
    layers: list[nn.Module]  # qkv and the projection after the heads


def packed_attention(model: nn.Module) -> list[PackedAttention]:
    """Such blocks' forwards split the packed output by the width of the block's input and
    reshape the heads back to that width, so a head, a head dimension or a channel of the
    residual stream can only go from q, k, v, the projection and every residual layer at
    once, a coupling Torch-Pruning's graph cannot see (it fails with an IndexError or slices
    them unevenly). Structured pruning keeps these layers whole; the MLPs still shrink."""
    found = []
    for name, module in model.named_modules():
        heads = next((getattr(module, a) for a in _HEAD_COUNTS
                      if isinstance(getattr(module, a, None), int)), None)
        linears = {n: c for n, c in module.named_children() if isinstance(c, nn.Linear)}
        packed = [n for n, c in linears.items() if c.out_features == 3 * c.in_features]
        if heads is None or len(packed) != 1:
            continue
        width = linears[packed[0]].in_features
        after = [c for n, c in linears.items() if n != packed[0] and c.in_features == width]
        found.append(PackedAttention(name, f"{name}.{packed[0]}" if name else packed[0],
                                     [linears[packed[0]], *after]))
    return found


def _refuse_heads_of_packed_attention(model: nn.Module) -> None:
    blocks = packed_attention(model)
    if blocks:
        raise ConfigError(
            f"{type(model).__name__} packs q, k and v into one Linear ({blocks[0].qkv}) that "
            "its forward splits by the model width, so whole heads cannot be removed; use "
            "targets=('neurons',) (CLI: --target neurons) to remove units of its MLPs")


def _ignored(work: nn.Module, config: StructuredPruning, example_inputs: Any) -> list[nn.Module]:
    """Modules matching `config.ignored`, the layers of packed attention (kept whole), plus
    the last layer so the output shape is kept."""
    ignored = [
        m
        for n, m in work.named_modules()
        if n and any(fnmatch.fnmatchcase(n, p) for p in config.ignored)
    ]
    ignored += [layer for attention in packed_attention(work) for layer in attention.layers]
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
