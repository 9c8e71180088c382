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
from tinyai.errors import ConfigError
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
from tinyai.quantize.export import export_substitute, retarget_onnx, to_onnx
from tinyai.quantize.mixed import allocate_bits, layer_params, layer_sensitivity
from tinyai.quantize.modules import QuantizedModule
from tinyai.quantize.ptq import (
    quantize_dynamic_int8,
    quantize_mixed,
    quantize_static_int8,
    quantize_weight_only,
)
from tinyai.quantize.qat import quantize_qat

_HANDLERS: dict[type, Callable[[nn.Module, Any], nn.Module]] = {
    Int8Dynamic: quantize_dynamic_int8,
    Int8Static: quantize_static_int8,
    WeightOnly: quantize_weight_only,
    MixedPrecision: quantize_mixed,
    QAT: quantize_qat,
    WeightSharing: weight_sharing,
}


def quantize_(model: nn.Module, config: QuantConfig) -> nn.Module:
    """Quantize `model` in place as `config` says; returns the same module."""
    handler = _HANDLERS.get(type(config))
    if handler is None:
        known = ", ".join(c.__name__ for c in _HANDLERS)
        raise ConfigError(
            f"{type(config).__name__} is not a quantization config; use one of {known}"
        )
    return handler(model, config)


def _stage(model: nn.Module, config: QuantConfig, ctx: registry.StageContext) -> nn.Module:
    return quantize_(model, config)


_SUMMARIES = {
    "int8-dynamic": (
        Int8Dynamic,
        "int8 weights, per-batch int8 activations (ORT DynamicQuantizeMatMul)",
    ),
    "int8-static": (
        Int8Static,
        "int8 Linear+Conv2d weights and activations from calibration (QLinearConv, "
        "MatMulIntegerToFloat; observers: minmax/percentile/mse/entropy)",
    ),
    "weight-only": (
        WeightOnly,
        "group-wise 8/4/2-bit packed weights (ORT MatMulNBits, GatherBlockQuantized)",
    ),
    "mixed-precision": (MixedPrecision, "per-layer 8/4/2-bit weights chosen to meet a size budget"),
    "qat": (QAT, "quantization-aware training with straight-through fake-quant, int8 or int4"),
    "weight-sharing": (
        WeightSharing,
        "Deep Compression k-means weight sharing with centroid fine-tuning",
    ),
}
for _name, (_cls, _summary) in _SUMMARIES.items():
    registry.register(_name, "quantize", _cls, _stage, _summary)


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
