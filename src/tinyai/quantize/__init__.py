"""Quantization: one verb, `quantize_(model, config)`, dispatched on the config's type.

    quantize_(model, Int8Dynamic())                       # one step
    quantize_(model, Int8Static(step="prepare"))          # insert observers
    for batch in calibration: model(**batch)              # the user's loop
    quantize_(model, Int8Static(step="convert"))          # int8 weights + activation params
                                                          # (Linear and Conv2d; BN folded)
    quantize_(model, WeightOnly(bits=4, group_size=32))   # packed int4 -> MatMulNBits
    quantize_(model, QAT(bits=4, step="prepare"))         # fake-quant; then train as usual
    quantize_(model, QAT(bits=4, step="convert"))         # same modules as WeightOnly
    quantize_(model, QAT(bits=8, step="prepare"))         # int8 Linear and Conv2d (BN folded):
                                                          # converts to Int8Static's modules
    quantize_(model, WeightSharing(bits=4))               # k-means; fine-tune the centroids
    quantize_(model, WeightSharing(bits=4, step="convert"))

Then `tinyai.export` (or `tinyai.quantize.to_onnx(model, path, example_inputs)` for a bare
.onnx file; both take the one export path) writes the integer ONNX graph. Mixed precision to
a size budget:
`layer_sensitivity` -> `allocate_bits` -> `quantize_(model, MixedPrecision(layer_bits=...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tinyai import registry
from tinyai.models.unfused import unfuse_attention
from tinyai.quantize import serialize as _serialize  # noqa: F401 - registers its record type
from tinyai.quantize.cluster import fold_batchnorm, weight_sharing
from tinyai.quantize.config import (
    QAT,
    Int8Dynamic,
    Int8Static,
    MixedPrecision,
    QuantConfig,
    WeightOnly,
    WeightSharing,
)
from tinyai.quantize.coverage import report_float_layers
from tinyai.quantize.export import export_substitute, retarget_onnx, to_onnx
from tinyai.quantize.mixed import allocate_bits, layer_params, layer_sensitivity, mixed_precision
from tinyai.quantize.modules import QuantizedModule
from tinyai.quantize.ptq import (
    quantize_dynamic_int8,
    quantize_static_int8,
    quantize_weight_only,
)
from tinyai.quantize.qat import quantize_qat


def quantize_(model: nn.Module, config: QuantConfig) -> nn.Module:
    """Quantize `model` in place as `config` says; returns the same module.

    Dispatches on the config's type through `tinyai.registry`, like every verb.
    """
    return registry.apply(model, config, kind="quantize")


def _without_context(
    fn: Callable[[nn.Module, Any], nn.Module],
) -> Callable[[nn.Module, Any, registry.StageContext], nn.Module]:
    """These schemes need nothing but the model and the config."""

    def handler(model: nn.Module, config: Any, ctx: registry.StageContext) -> nn.Module:
        return fn(model, config)

    handler.__qualname__ = handler.__name__ = fn.__name__
    return handler


def _on_any_module(
    handler: Callable[[nn.Module, Any, registry.StageContext], nn.Module], report: bool = True,
) -> Callable[[nn.Module, Any, registry.StageContext], nn.Module]:
    """Every scheme first rebuilds torch's fused attention from plain Linears (so
    nn.TransformerEncoderLayer keeps running and its projections are quantized too), and
    says which layers it left in float once it has converted (`coverage`)."""

    def run(model: nn.Module, config: Any, ctx: registry.StageContext) -> nn.Module:
        unfuse_attention(model)
        model = handler(model, config, ctx)
        if report and getattr(config, "step", "convert") == "convert":
            report_float_layers(model, config)
        return model

    run.__qualname__ = run.__name__ = handler.__name__
    return run


_NEEDS = registry.Needs
_TECHNIQUES = [
    ("int8-dynamic", Int8Dynamic, _without_context(quantize_dynamic_int8), _NEEDS(),
     "int8 weights, per-batch int8 activations (ORT DynamicQuantizeMatMul)"),
    ("int8-static", Int8Static, _without_context(quantize_static_int8),
     _NEEDS(calibration=True, training="optional"),
     "int8 Linear+Conv2d weights and activations from calibration (QLinearConv, "
     "MatMulIntegerToFloat; observers: minmax/percentile/mse/entropy)"),
    ("weight-only", WeightOnly, _without_context(quantize_weight_only), _NEEDS(),
     "group-wise 8/4/2-bit packed weights (ORT MatMulNBits, GatherBlockQuantized)"),
    ("mixed-precision", MixedPrecision, mixed_precision, _NEEDS(evaluation=True, task=True),
     "per-layer 8/4/2-bit weights chosen to meet a size budget"),
    ("qat", QAT, _without_context(quantize_qat), _NEEDS(training="required"),
     "quantization-aware training with straight-through fake-quant, int8 or int4"),
    ("weight-sharing", WeightSharing, _without_context(weight_sharing),
     _NEEDS(training="optional"),
     "Deep Compression k-means weight sharing with centroid fine-tuning"),
]
for _name, _cls, _handler, _needs, _summary in _TECHNIQUES:
    # Shared weights are not quantized; their float values are the point of weight sharing.
    _handler = _on_any_module(_handler, report=_cls is not WeightSharing)
    registry.register(_name, "quantize", _cls, _handler, _summary, _needs)


def _register_export_substitute() -> None:
    from tinyai.export.extensions import register_export_substitute

    register_export_substitute(QuantizedModule, export_substitute)


_register_export_substitute()

__all__ = [
    "QAT",
    "Int8Dynamic",
    "Int8Static",
    "MixedPrecision",
    "QuantConfig",
    "WeightOnly",
    "WeightSharing",
    "allocate_bits",
    "fold_batchnorm",
    "layer_params",
    "layer_sensitivity",
    "quantize_",
    "retarget_onnx",
    "to_onnx",
]
