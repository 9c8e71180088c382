"""Export a quantized model to an ONNX file that ONNX Runtime runs with integer kernels.

`to_onnx` is self-contained (float-shadow export with the dynamo exporter, then the rewrite
in `onnx_pass`) so quantization can be checked end to end on its own; `tinyai.export` (the
artifact writer) calls `quantized_graph_pass` as a post-export pass so artifacts carry the
same integer graph.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from tinyai.export.extensions import translation_table
from tinyai.export.hf_attention import key_padding_attention
from tinyai.quantize.onnx_pass import (
    float_shadow,
    leftover_float_weights,
    reference_table,
    rewrite_quantized,
)


def _dynamic_shapes(inputs: dict[str, Tensor]) -> dict[str, dict[int, object]]:
    batch = torch.export.Dim("batch")
    seq = torch.export.Dim("sequence")
    shapes: dict[str, dict[int, object]] = {}
    for name, t in inputs.items():
        dims: dict[int, object] = {0: batch}
        # Integer 2-D inputs are token ids / masks: their second axis is the sequence length.
        if t.dtype in (torch.int64, torch.int32) and t.dim() == 2:
            dims[1] = seq
        shapes[name] = dims
    return shapes


def export_float_onnx(
    model: nn.Module, example_inputs: dict[str, Tensor], output_name: str = "output"
) -> onnx.ModelProto:
    """Plain dynamo export with dynamic batch (and sequence) axes, quietly.

    The exporter names inner values after the aten ops (a word-embedding lookup writes
    "embedding") and does not avoid the requested output name, which leaves a sentence
    encoder exported as "embedding" with two producers of one name: ORT refuses such a file.
    So export under a fresh name, move an inner value that holds `output_name` aside, then
    give the output its name.
    """
    fresh = f"{output_name}__tinyai_output"
    proto = _export(model, example_inputs, fresh)
    if any(output_name in node.output for node in proto.graph.node):
        _rename_value(proto.graph, output_name, f"{output_name}__inner")
    _rename_value(proto.graph, fresh, output_name)
    return proto


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a value everywhere the top-level graph mentions it (exports have no subgraphs
    that read outer values by these names)."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for info in [*graph.output, *graph.value_info]:
        if info.name == old:
            info.name = new


def _export(
    model: nn.Module, example_inputs: dict[str, Tensor], output_name: str
) -> onnx.ModelProto:
    model.eval()
    names = list(example_inputs)
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        key_padding_attention(model),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (),
            kwargs=dict(example_inputs),
            input_names=names,
            output_names=[output_name],
            dynamic_shapes=_dynamic_shapes(example_inputs),
            dynamo=True,
            verbose=False,
            custom_translation_table=translation_table(),
        )
    assert program is not None
    return program.model_proto


def _inputs_like(proto: onnx.ModelProto) -> dict[str, Tensor]:
    """Example inputs matching a graph's inputs (symbolic dims -> small sizes)."""
    from onnx import helper

    inits = {t.name for t in proto.graph.initializer}
    out: dict[str, Tensor] = {}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        ttype = vi.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(ttype.elem_type)
        shape = [
            d.dim_value if d.HasField("dim_value") else 2 + 6 * i
            for i, d in enumerate(ttype.shape.dim)
        ]
        out[vi.name] = torch.zeros(shape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype)
    return out


def quantized_graph_pass(model_proto: onnx.ModelProto, model: nn.Module) -> onnx.ModelProto:
    """Post-export pass registered with `tinyai.export`.

    The stock export traces the dequantize-on-the-fly reference forward, which is float math;
    rather than pattern-match that trace, re-export the float shadow with the same input and
    output names and rewrite it, so artifacts get exactly the graph `to_onnx` writes.
    """
    inputs = _inputs_like(model_proto)
    output_name = model_proto.graph.output[0].name
    shadow, table = float_shadow(model)
    proto = export_float_onnx(shadow, inputs, output_name)
    rewrite_quantized(proto, table)
    _check_all_rewritten(proto, table)
    return proto


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
) -> Path:
    """Write `model` (quantized or not) as ONNX with integer ops for its quantized layers.

    `accuracy_level` is MatMulNBits' compute mode: 0 = dequantize to fp32 (closest to the
    PyTorch reference), 4 = quantize activations to int8 inside the kernel (faster on CPUs
    with int8 dot products, slightly less exact).
    """
    shadow, table = float_shadow(model)
    proto = export_float_onnx(shadow, example_inputs, output_name)
    return _rewrite_and_save(proto, table, accuracy_level, Path(path))


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
    return _rewrite_and_save(proto, table, accuracy_level, Path(path))


def _rewrite_and_save(
    proto: onnx.ModelProto, table: Any, accuracy_level: int, path: Path
) -> Path:
    """Replace the float MatMul/Conv of every quantized layer, refuse leftovers, write."""
    rewrite_quantized(proto, table, accuracy_level)
    _check_all_rewritten(proto, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path
