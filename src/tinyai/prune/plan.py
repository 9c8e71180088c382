"""A pruning plan: the exact list of slicing operations, replayable on a fresh model.

The plan is data, not a pickled module: each op names a module, a slicing function and
the indices it removes (indices refer to the module as it is when the op runs, as in
Torch-Pruning's pruning history). Replaying the ops on the base architecture rebuilds the
pruned structure; a state dict then fills in the weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinyai.errors import ConfigError

PLAN_FORMAT_VERSION = 1


@dataclass
class LayerChange:
    """One row of the dry-run table."""

    name: str
    type: str
    removed: str
    shape_before: list[int]
    shape_after: list[int]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int


@dataclass
class PruningPlan:
    config: dict[str, Any]
    ops: list[dict[str, Any]] = field(default_factory=list)
    layers: list[LayerChange] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    # The tinyai config of the architecture the ops apply to (None for encoder heads, whose
    # saved Hugging Face config already describes the unpruned encoder).
    base_config: dict[str, Any] | None = None

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "config": self.config,
            "ops": self.ops,
            "layers": [asdict(r) for r in self.layers],
            "totals": self.totals,
            "base_config": self.base_config,
        }

    def save(self, path: str | Path) -> Path:
        from tinyai import atomic

        return atomic.write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruningPlan:
        version = data.get("format_version")
        if version != PLAN_FORMAT_VERSION:
            raise ConfigError(
                f"pruning plan format {version!r} is not supported "
                f"(this tinyai reads {PLAN_FORMAT_VERSION}); re-create the plan"
            )
        layers = [LayerChange(**r) for r in data.get("layers", [])]
        return cls(
            data["config"],
            list(data["ops"]),
            layers,
            dict(data.get("totals", {})),
            data.get("base_config"),
        )

    @classmethod
    def load(cls, path: str | Path) -> PruningPlan:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise ConfigError(
                f"cannot read pruning plan {path}: {exc}; re-create it with tinyai.prune.plan(...)"
            ) from None

    # ---------------------------------------------------------------- display
    def table_rows(self) -> list[list[str]]:
        rows = []
        for r in self.layers:
            rows.append(
                [
                    r.name,
                    r.type,
                    r.removed,
                    _shape(r.shape_before),
                    _shape(r.shape_after),
                    f"{r.params_before:,}",
                    f"{r.params_after:,}",
                    f"{r.macs_before:,}",
                    f"{r.macs_after:,}",
                ]
            )
        t = self.totals
        rows.append(
            [
                "TOTAL",
                "",
                "",
                "",
                "",
                f"{t.get('params_before', 0):,}",
                f"{t.get('params_after', 0):,}",
                f"{t.get('macs_before', 0):,}",
                f"{t.get('macs_after', 0):,}",
            ]
        )
        return rows

    HEADERS = (
        "layer",
        "type",
        "removed",
        "shape before",
        "shape after",
        "params before",
        "params after",
        "MACs before",
        "MACs after",
    )

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.HEADERS) + " |", "|" + "---|" * len(self.HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in self.table_rows()]
        return "\n".join(lines)

    def __str__(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.table_rows())) for i, h in enumerate(self.HEADERS)
        ]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join([fmt.format(*self.HEADERS)] + [fmt.format(*r) for r in self.table_rows()])


def _shape(shape: list[int]) -> str:
    return "x".join(str(s) for s in shape)


# -------------------------------------------------------------------- replay
def _pruner_functions() -> dict[str, Any]:
    """Slicing functions by "<PrunerClass>.<method>", Torch-Pruning's plus ours."""
    from torch_pruning.pruner import function

    from tinyai.prune.recurrent import RecurrentPruner

    pruners = {type(p).__name__: p for p in function.PrunerBox.values() if p is not None}
    pruners["RecurrentPruner"] = RecurrentPruner()
    out = {}
    for cls_name, pruner in pruners.items():
        out[f"{cls_name}.prune_out_channels"] = pruner.prune_out_channels
        out[f"{cls_name}.prune_in_channels"] = pruner.prune_in_channels
    return out


def run_op(model: nn.Module, op: dict[str, Any], functions: dict[str, Any] | None = None) -> None:
    functions = functions or _pruner_functions()
    try:
        module = model.get_submodule(op["module"])
    except AttributeError:
        raise ConfigError(
            f"the plan names module {op['module']!r}, which this model lacks; "
            "apply the plan to the architecture it was made for"
        ) from None
    if "set" in op:
        for attr, value in op["set"].items():
            setattr(module, attr, value)
        return
    if op["fn"] == "parameter":
        _slice_parameter(module, str(op["parameter"]), int(op["dim"]), list(op["idxs"]))
        return
    fn = functions.get(op["fn"])
    if fn is None:
        raise ConfigError(f"unknown slicing function {op['fn']!r} in the plan")
    with torch.no_grad():
        fn(module, list(op["idxs"]))


def _slice_parameter(module: nn.Module, attr: str, dim: int, idxs: list[int]) -> None:
    """Remove entries `idxs` along `dim` of a bare parameter (a class token, positions)."""
    old = module._parameters.get(attr)
    if old is None or not 0 <= dim < old.dim():
        raise ConfigError(f"the plan slices parameter {attr!r} along axis {dim}, which "
                          f"{type(module).__name__} does not have; apply the plan to the "
                          "architecture it was made for")
    keep = torch.tensor(sorted(set(range(old.shape[dim])) - set(idxs)), dtype=torch.long)
    with torch.no_grad():
        new = nn.Parameter(old.detach().index_select(dim, keep).contiguous(),
                           requires_grad=old.requires_grad)
    setattr(module, attr, new)


def apply_plan(model: nn.Module, plan: PruningPlan) -> nn.Module:
    """Replay the plan's slicing ops on `model` in place; returns the smaller module."""
    functions = _pruner_functions()
    for op in plan.ops:
        run_op(model, op, functions)
    return model

