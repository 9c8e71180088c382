"""Extension points for modules the stock ONNX exporter does not turn into the right ops.

Three hooks, each keyed by what a technique adds to a model:

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
* `register_export_substitute(module_type, fn)`: ``fn(model) -> (model_to_export, rewrite)``
  for a model whose own forward is not what should be traced: the exporter traces
  `model_to_export` instead (same inputs, `ExportConfig`, translation table and dynamic axes
  as any model), and ``rewrite(model_proto) -> model_proto`` then turns that graph into the
  real one. Quantization uses it: the float shadow of the quantized layers is exported, and
  its MatMul/Conv/Gather are rewritten into integer ops with the layers' own buffers.

Substitutes run before the one export, their rewrites after it (last substitute first), then
the graph passes in registration order; all before the ONNX checker, weight packing and the
parity check, so whatever they produce is checked and measured like the rest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx
    from torch import nn

GraphPass = Callable[["onnx.ModelProto", "nn.Module"], "onnx.ModelProto"]
Rewrite = Callable[["onnx.ModelProto"], "onnx.ModelProto"]
Substitute = Callable[["nn.Module"], tuple["nn.Module", Rewrite]]

# torch op -> (onnxscript function, required: the model cannot export without it). One
# registry, so whoever swaps it out (a test isolating its translations) swaps both.
_TRANSLATIONS: dict[Any, tuple[Callable[..., Any], bool]] = {}
_GRAPH_PASSES: list[tuple[type, GraphPass]] = []
_SUBSTITUTES: list[tuple[type, Substitute]] = []
# Translations tinyai ships, registered when their module is imported.
_BUILTIN_TRANSLATIONS = ("tinyai.export.attention",)


def register_onnx_translation(
    torch_op: Any, onnx_fn: Callable[..., Any], *, required: bool = True
) -> None:
    """Export calls to `torch_op` (an OpOverload) with the onnxscript function `onnx_fn`.

    `required=False` marks a translation that only speeds up an op the exporter can export
    anyway; it does not make `export` choose the dynamo exporter for, e.g., a GRU model.
    """
    _TRANSLATIONS[torch_op] = (onnx_fn, required)


def register_graph_pass(module_type: type, fn: GraphPass) -> None:
    """Run `fn` on the exported graph of any model that contains a `module_type` module."""
    if (module_type, fn) not in _GRAPH_PASSES:
        _GRAPH_PASSES.append((module_type, fn))


def register_export_substitute(module_type: type, fn: Substitute) -> None:
    """Export what `fn` substitutes for any model that contains a `module_type` module."""
    if (module_type, fn) not in _SUBSTITUTES:
        _SUBSTITUTES.append((module_type, fn))


def translation_table() -> dict[Any, Callable[..., Any]]:
    """What to pass as the dynamo exporter's ``custom_translation_table`` (built-ins included)."""
    for module in _BUILTIN_TRANSLATIONS:
        importlib.import_module(module)
    return {op: fn for op, (fn, _) in _TRANSLATIONS.items()}


def _present(model: nn.Module, hooks: list[tuple[type, Any]]) -> list[Any]:
    types = {type(m) for m in model.modules()}
    return [fn for module_type, fn in hooks if any(issubclass(t, module_type) for t in types)]


def has_required_translations() -> bool:
    """Whether a registered translation needs the dynamo exporter (see `required`)."""
    return any(required for _, required in _TRANSLATIONS.values())


def passes_for(model: nn.Module) -> list[GraphPass]:
    """The registered passes whose module type occurs in `model`, in registration order."""
    return _present(model, _GRAPH_PASSES)


def substitutes_for(model: nn.Module) -> list[Substitute]:
    """The registered substitutes whose module type occurs in `model`, in registration order."""
    return _present(model, _SUBSTITUTES)


def load_technique_extensions() -> None:
    """Import the technique packages so their export hooks are registered before exporting."""
    from tinyai import registry

    registry.load_builtin_techniques()
