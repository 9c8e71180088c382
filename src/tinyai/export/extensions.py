"""Extension points for modules the stock ONNX exporter does not turn into the right ops.

Two hooks, both keyed by what a technique adds to a model:

* `register_onnx_translation(torch_op, onnx_fn)`: an entry for the dynamo exporter's
  ``custom_translation_table`` (torch op overload -> onnxscript function). Use it when a
  technique's module calls a custom torch op (``torch.library``) that should become, say,
  ``com.microsoft::MatMulNBits``. With ``required=False`` it is only a faster form of an op the
  exporter handles anyway (`tinyai.export.attention`: SDPA as one fused attention node), which
  by itself is no reason to pick the dynamo exporter.
* `register_graph_pass(module_type, fn)`: ``fn(model_proto, torch_model) -> model_proto`` runs
  on the exported graph whenever the torch model contains a module of `module_type`. Use it
  to rewrite patterns after export, e.g. replace a dequantize-then-MatMul pattern by
  QDQ / MatMulInteger so onnxruntime runs integer kernels.

Passes run in registration order, after export and before the ONNX checker, weight packing
and the parity check, so whatever a pass produces is checked and measured like the rest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx
    from torch import nn

GraphPass = Callable[["onnx.ModelProto", "nn.Module"], "onnx.ModelProto"]

_TRANSLATIONS: dict[Any, Callable[..., Any]] = {}
_REQUIRED: set[Any] = set()  # ops whose translation the model cannot export without
_GRAPH_PASSES: list[tuple[type, GraphPass]] = []
# Translations tinyai ships, registered when their module is imported.
_BUILTIN_TRANSLATIONS = ("tinyai.export.attention",)


def register_onnx_translation(
    torch_op: Any, onnx_fn: Callable[..., Any], *, required: bool = True
) -> None:
    """Export calls to `torch_op` (an OpOverload) with the onnxscript function `onnx_fn`.

    `required=False` marks a translation that only speeds up an op the exporter can export
    anyway; it does not make `export` choose the dynamo exporter for, e.g., a GRU model.
    """
    _TRANSLATIONS[torch_op] = onnx_fn
    if required:
        _REQUIRED.add(torch_op)
    else:
        _REQUIRED.discard(torch_op)


def register_graph_pass(module_type: type, fn: GraphPass) -> None:
    """Run `fn` on the exported graph of any model that contains a `module_type` module."""
    if (module_type, fn) not in _GRAPH_PASSES:
        _GRAPH_PASSES.append((module_type, fn))


def translation_table() -> dict[Any, Callable[..., Any]]:
    """What to pass as the dynamo exporter's ``custom_translation_table`` (built-ins included)."""
    for module in _BUILTIN_TRANSLATIONS:
        importlib.import_module(module)
    return dict(_TRANSLATIONS)


def has_required_translations() -> bool:
    """Whether a registered translation needs the dynamo exporter (see `required`)."""
    return bool(_REQUIRED)


def passes_for(model: nn.Module) -> list[GraphPass]:
    """The registered passes whose module type occurs in `model`, in registration order."""
    present = {type(m) for m in model.modules()}
    return [
        fn for module_type, fn in _GRAPH_PASSES if any(issubclass(t, module_type) for t in present)
    ]


def load_technique_extensions() -> None:
    """Import the technique packages so their export hooks are registered before exporting."""
    from tinyai import registry

    registry.load_builtin_techniques()
