"""Intermediate-layer distillation for any pair of modules: taps, a layer map, the loss.

A `LayerPair` pairs a student submodule with a teacher submodule by name and says what to
compare (its output, or attention probabilities). `bert_layer_map` writes TinyBERT's map for
Hugging Face BERT encoders; for any other pair of models name the modules
(`DistillConfig.feature_map`, `feature_pairs`): outputs of any layout are compared, with a
learned projection along the one axis where their widths differ.
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
    """Sum of weighted per-pair losses; learned projections bridge different widths.

    Works on any feature layout: token features [B, T, D], conv maps [B, C, H, W] or
    [B, C, L], pooled vectors [B, D]. The one axis on which a student feature and its
    teacher feature differ is the width, projected by a learned linear map (a 1x1 conv for
    channels); features that differ on more than one axis cannot be compared.
    """

    def __init__(self, pairs: Sequence[LayerPair], student_shapes: dict[str, Any],
                 teacher_shapes: dict[str, Any]) -> None:
        super().__init__()
        self.pairs = list(pairs)
        self.projections = nn.ModuleDict()
        self.axes: dict[str, int] = {}
        for i, pair in enumerate(self.pairs):
            if pair.kind not in KINDS:
                raise ConfigError(f"layer pair kind must be one of {KINDS}, not {pair.kind!r}")
            s_shape, t_shape = student_shapes.get(pair.student), teacher_shapes.get(pair.teacher)
            if pair.kind != "hidden" or s_shape is None or t_shape is None:
                continue
            axis = _width_axis(pair, tuple(s_shape), tuple(t_shape))
            if axis is not None:
                self.axes[str(i)] = axis
                self.projections[str(i)] = nn.Linear(s_shape[axis], t_shape[axis], bias=False)

    def forward(self, student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                mask: torch.Tensor | None) -> torch.Tensor:
        total = torch.zeros(())
        for i, pair in enumerate(self.pairs):
            s, t = student[pair.student], teacher[pair.teacher]
            if pair.kind == "attention":
                total = total + pair.weight * attention_mse(s, t, mask)
                continue
            if str(i) in self.projections:
                axis = self.axes[str(i)]
                s = self.projections[str(i)](s.movedim(axis, -1)).movedim(-1, axis)
            tokens = mask is not None and s.dim() == 3 and s.shape[:2] == mask.shape
            total = total + pair.weight * masked_mse(s, t, mask if tokens else None)
        return total


def _width_axis(pair: LayerPair, student: tuple[int, ...], teacher: tuple[int, ...]) -> int | None:
    """The one axis (not the batch) on which the two features differ; None if none does."""
    differ = [a for a in range(1, len(student)) if len(student) == len(teacher)
              and student[a] != teacher[a]]
    if len(student) != len(teacher) or len(differ) > 1:
        raise ConfigError(f"layer pair {pair.student} -> {pair.teacher}: features {list(student)} "
                          f"and {list(teacher)} differ in more than their width; pair layers "
                          "whose outputs have the same layout and resolution")
    return differ[0] if differ else None


def feature_pairs(student: nn.Module, teacher: nn.Module,
                  feature_map: Sequence[tuple[str, str]] = (),
                  layers: Sequence[tuple[int, int]] | None = None,
                  attention: bool = False) -> list[LayerPair]:
    """The layer map of a distillation: `feature_map`'s (student module, teacher module)
    names when given, else TinyBERT's map for two BERT-style encoders."""
    if feature_map:
        return [LayerPair(str(s), str(t)) for s, t in feature_map]
    return bert_layer_map(student, teacher, layers, attention=attention)


def find_bert(model: nn.Module) -> tuple[str, nn.Module]:
    """The (name, module) of the first Hugging Face BERT-like encoder inside `model`."""
    for name, module in model.named_modules():
        if hasattr(module, "embeddings") and hasattr(module, "encoder") and hasattr(
                getattr(module, "encoder", None), "layer"):
            return name, module
    raise ConfigError("no BERT encoder found in the model; for intermediate-layer losses name "
                      "the layers to match: feature_map=[[student_module, teacher_module], ...]")


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
