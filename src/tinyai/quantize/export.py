"""Export a quantized model to an ONNX file that ONNX Runtime runs with integer kernels.

There is one export path, `tinyai.export.onnx_export.export_graph`. For a model holding
quantized layers, `export_substitute` (registered for `QuantizedModule`) puts its *float
shadow* in its place: every quantized layer replaced by a float layer holding exactly its
dequantized weight. The exporter traces that shadow once, with the real example inputs, the
`ExportConfig`, the translation table and the dynamic axes of any export; the substitute's
rewrite then turns the shadow's MatMul/Gemm/Conv/Gather into integer ops fed with the
layers' own buffers (`onnx_pass`).

`to_onnx` writes that same graph as a single .onnx file (no artifact); `retarget_onnx`
rewrites an existing float export of the unquantized model for a PTQ variant of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
from torch import Tensor, nn

from tinyai.quantize.onnx_pass import (
    float_shadow,
    leftover_float_weights,
    reference_table,
    rewrite_quantized,
    set_accuracy_level,
)

if TYPE_CHECKING:
    from tinyai.export.config import ExportConfig


def export_substitute(model: nn.Module) -> tuple[nn.Module, Any]:
    """(the float shadow to export, the rewrite that makes its graph the integer one)."""
    shadow, table = float_shadow(model)

    def rewrite_into_integer_ops(proto: onnx.ModelProto) -> onnx.ModelProto:
        rewrite_quantized(proto, table)
        _check_all_rewritten(proto, table)
        return proto

    return shadow, rewrite_into_integer_ops


def _check_all_rewritten(proto: onnx.ModelProto, table: dict) -> None:
    # A weight the rewrite did not catch would silently run in float: refuse instead.
    left = leftover_float_weights(proto, table)
    if left:
        raise RuntimeError(f"quantized layers left in float by the ONNX rewrite: {', '.join(left)}")


def to_onnx(
    model: nn.Module,
    path: str | Path,
    example_inputs: dict[str, Tensor],
    output_name: str = "output",
    accuracy_level: int = 0,
    config: ExportConfig | None = None,
    kind: str = "",
) -> Path:
    """Write `model` (quantized or not) as ONNX with integer ops for its quantized layers:
    the graph `tinyai.export` puts in an artifact, as one file.

    `accuracy_level` is MatMulNBits' compute mode: 0 = dequantize to fp32 (closest to the
    PyTorch reference), 4 = quantize activations to int8 inside the kernel (faster on CPUs
    with int8 dot products, slightly less exact). `kind` is the task kind ("char-lm" gives
    the output a sequence axis).
    """
    from tinyai.export import extensions, onnx_export
    from tinyai.export.config import ExportConfig

    extensions.load_technique_extensions()
    graph = onnx_export.export_graph(
        model, example_inputs, output_name, kind, config or ExportConfig()
    )
    set_accuracy_level(graph.proto, accuracy_level)
    return _save(graph.proto, Path(path))


def retarget_onnx(
    float_proto: onnx.ModelProto,
    float_model: nn.Module,
    quantized: nn.Module,
    path: str | Path,
    accuracy_level: int = 0,
) -> Path:
    """Write a PTQ variant of `float_model` by rewriting its existing float export.

    Same graph as `to_onnx(quantized, ...)` without another export; see `reference_table`
    for when this is valid (post-training quantization only).
    """
    proto = onnx.ModelProto()
    proto.CopyFrom(float_proto)
    table = reference_table(float_model, quantized)
    rewrite_quantized(proto, table)
    _check_all_rewritten(proto, table)
    set_accuracy_level(proto, accuracy_level)
    return _save(proto, Path(path))


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path
