"""Resize layers to the shapes stored in a checkpoint, so structurally pruned models round-trip.

Structured pruning (torch-pruning and friends) shrinks ``nn.Conv2d`` / ``nn.Linear`` /
``nn.BatchNorm2d`` ... in place, and not every width it touches has a config field (the
inner conv of a residual block, an FFN's intermediate size). Rather than ask every pruner
to rewrite configs, loading rebuilds the model from its config and then replaces each layer
whose checkpoint shape differs (or that gained or lost a bias) with one of the stored shape.
Layers that a technique replaced are rebuilt from their recorded metadata instead
(`tinyai.models.dir.records`). Written by hand because
neither safetensors nor torch offers "load into a module of different widths".
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from tinyai.errors import ModelError

Shapes = Mapping[str, tuple[int, ...]]


def fit_to_shapes(model: nn.Module, shapes: Shapes) -> list[str]:
    """Replace layers whose stored weight shapes differ; returns the names of replaced layers."""
    replaced = []
    for name, module in list(model.named_modules()):
        if not name:  # the root is built from the config itself
            continue
        prefix = f"{name}." if name else ""
        new = _resized(module, prefix, shapes)
        if new is not None:
            _set_submodule(model, name, new)
            replaced.append(name)
    return replaced


def _shape(shapes: Shapes, key: str) -> tuple[int, ...] | None:
    value = shapes.get(key)
    return tuple(value) if value is not None else None


def _resized(module: nn.Module, prefix: str, shapes: Shapes) -> nn.Module | None:
    if isinstance(module, nn.Linear):
        shape = _shape(shapes, prefix + "weight")
        bias = _stored_bias(module, prefix, shapes)
        if shape is None or (shape == tuple(module.weight.shape) and bias == _has_bias(module)):
            return None
        return nn.Linear(shape[1], shape[0], bias=bias)
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        shape = _shape(shapes, prefix + "weight")
        return _resized_conv(module, shape, _stored_bias(module, prefix, shapes))
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        shape = _shape(shapes, prefix + "running_mean") or _shape(shapes, prefix + "weight")
        if shape is None or shape[0] == module.num_features:
            return None
        return type(module)(
            shape[0], module.eps, module.momentum, module.affine, module.track_running_stats
        )
    if isinstance(module, nn.LayerNorm):
        shape = _shape(shapes, prefix + "weight")
        if shape is None or shape == tuple(module.normalized_shape):
            return None
        return nn.LayerNorm(shape, eps=module.eps, elementwise_affine=module.elementwise_affine)
    if isinstance(module, nn.Embedding):
        shape = _shape(shapes, prefix + "weight")
        if shape is None or shape == tuple(module.weight.shape):
            return None
        return nn.Embedding(shape[0], shape[1], padding_idx=module.padding_idx)
    if isinstance(module, nn.RNNBase):
        shape = _shape(shapes, prefix + "weight_ih_l0")
        if shape is not None and shape != tuple(module.weight_ih_l0.shape):
            raise ModelError(
                f"checkpoint widths of recurrent layer {prefix[:-1]!r} differ from its config; "
                "update the model config's sizes (sync_config) before saving"
            )
    return None


def _has_bias(module: nn.Module) -> bool:
    return getattr(module, "bias", None) is not None


def _stored_bias(module: nn.Module, prefix: str, shapes: Shapes) -> bool:
    """Whether the checkpoint has a bias for this layer: folding a BatchNorm into a bias-free
    conv gives it one (static int8, QAT and Deep Compression fold)."""
    return prefix + "bias" in shapes if prefix + "weight" in shapes else _has_bias(module)


def _resized_conv(module: nn.Module, shape: tuple[int, ...] | None, bias: bool) -> nn.Module | None:
    assert isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d)
    if shape is None or (shape == tuple(module.weight.shape) and bias == _has_bias(module)):
        return None
    c_out = shape[0]
    depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
    # A pruned depthwise conv keeps one filter per channel, so its groups shrink with it.
    groups = c_out if depthwise else module.groups
    c_in = shape[1] * groups
    return type(module)(
        c_in,
        c_out,
        module.kernel_size,
        stride=module.stride,
        padding=module.padding,
        dilation=module.dilation,
        groups=groups,
        bias=bias,
        padding_mode=module.padding_mode,
    )


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
