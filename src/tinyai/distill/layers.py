"""Intermediate-layer distillation for any pair of modules: taps, a layer map, the loss.

A `LayerMap` pairs a student submodule with a teacher submodule by name and says what to
compare (embedding / hidden output, or attention probabilities). `bert_layer_map` writes
TinyBERT's map for Hugging Face BERT encoders; for any other model give the names yourself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tinyai.distill.losses import attention_mse, masked_mse
from tinyai.errors import ConfigError

KINDS = ("hidden", "attention")


@dataclasses.dataclass(frozen=True)
class LayerPair:
    student: str  # submodule name in the student (model.named_modules())
    teacher: str  # submodule name in the teacher
    kind: str = "hidden"  # hidden: compare the module output; attention: its attention map
    weight: float = 1.0


class FeatureTap:
    """Forward hooks that keep the latest output of named submodules."""

    def __init__(self, model: nn.Module, names: Sequence[str], kinds: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name, kind in zip(names, kinds, strict=True):
            if name not in modules:
                raise ConfigError(f"layer map names {name!r}, which is not a submodule; "
                                  "check the names with model.named_modules()")
            hook = self._hook(name, kind)
            self._handles.append(modules[name].register_forward_hook(hook))

    def _hook(self, name: str, kind: str) -> Any:
        def keep(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if kind == "attention":
                if not isinstance(output, tuple) or output[1] is None:
                    raise ConfigError(f"{name} returned no attention map; load the model with "
                                      "attn_implementation='eager' (use_eager_attention(model))")
                self.features[name] = output[1]
            else:
                self.features[name] = output[0] if isinstance(output, tuple) else output
        return keep

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class LayerLoss(nn.Module):
    """Sum of weighted per-pair losses; learned projections bridge different widths."""

    def __init__(self, pairs: Sequence[LayerPair], student_dims: dict[str, int],
                 teacher_dims: dict[str, int]) -> None:
        super().__init__()
        self.pairs = list(pairs)
        self.projections = nn.ModuleDict()
        for i, pair in enumerate(self.pairs):
            if pair.kind not in KINDS:
                raise ConfigError(f"layer pair kind must be one of {KINDS}, not {pair.kind!r}")
            s_dim, t_dim = student_dims.get(pair.student), teacher_dims.get(pair.teacher)
            if pair.kind == "hidden" and s_dim and t_dim and s_dim != t_dim:
                self.projections[str(i)] = nn.Linear(s_dim, t_dim, bias=False)

    def forward(self, student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                mask: torch.Tensor | None) -> torch.Tensor:
        total = torch.zeros(())
        for i, pair in enumerate(self.pairs):
            s, t = student[pair.student], teacher[pair.teacher]
            if pair.kind == "attention":
                total = total + pair.weight * attention_mse(s, t, mask)
                continue
            if str(i) in self.projections:
                s = self.projections[str(i)](s)
            total = total + pair.weight * masked_mse(s, t, mask)
        return total


def find_bert(model: nn.Module) -> tuple[str, nn.Module]:
    """The (name, module) of the first Hugging Face BERT-like encoder inside `model`."""
    for name, module in model.named_modules():
        if hasattr(module, "embeddings") and hasattr(module, "encoder") and hasattr(
                getattr(module, "encoder", None), "layer"):
            return name, module
    raise ConfigError("no BERT encoder found in the model; pass a layer map by module names")


def use_eager_attention(model: nn.Module) -> None:
    """Switch HF attention to the eager kernel, the one that returns attention maps."""
    _, bert = find_bert(model)
    bert.config._attn_implementation = "eager"


def bert_layer_map(student: nn.Module, teacher: nn.Module,
                   layers: Sequence[tuple[int, int]] | None = None, embedding: bool = True,
                   hidden: bool = True, attention: bool = False) -> list[LayerPair]:
    """TinyBERT's map: embeddings, then student layer i -> teacher layer j for each (i, j).

    The default pairs student layer i with teacher layer (i + 1) * n_t / n_s - 1, TinyBERT's
    uniform strategy (the last student layer learns from the last teacher layer).
    """
    s_name, s_bert = find_bert(student)
    t_name, t_bert = find_bert(teacher)
    n_s, n_t = len(s_bert.encoder.layer), len(t_bert.encoder.layer)
    if layers is None:
        layers = [(i, (i + 1) * n_t // n_s - 1) for i in range(n_s)]
    s_pre = f"{s_name}." if s_name else ""
    t_pre = f"{t_name}." if t_name else ""
    pairs = []
    if embedding:
        pairs.append(LayerPair(f"{s_pre}embeddings", f"{t_pre}embeddings"))
    for i, j in layers:
        if hidden:
            pairs.append(LayerPair(f"{s_pre}encoder.layer.{i}", f"{t_pre}encoder.layer.{j}"))
        if attention:
            pairs.append(LayerPair(f"{s_pre}encoder.layer.{i}.attention.self",
                                   f"{t_pre}encoder.layer.{j}.attention.self", "attention"))
    return pairs


def output_widths(model: nn.Module, names: Sequence[str]) -> dict[str, int]:
    """Hidden width of each named BERT submodule (from its config), for projections."""
    _, bert = find_bert(model)
    return dict.fromkeys(names, int(bert.config.hidden_size))
