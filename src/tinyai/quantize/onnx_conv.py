"""The integer rewrite of a float Conv node for a `QuantizedConv2d`: QDQ format.

    x -> QuantizeLinear -> DequantizeLinear --\\
    int8 W -> DequantizeLinear(axis=0) -------- Conv [-> Relu] -> QuantizeLinear -> DequantizeLinear
    int32 b -> DequantizeLinear(axis=0) ------/

ONNX Runtime's QDQ transformer turns "DQ -> Conv [-> Relu] -> Q" into one QLinearConv (uint8 or
int8 activations, per-channel int8 weights, int32 bias). Measured on this machine (1 thread,
batch 1): a 64->128 3x3 conv at 14x14 takes ~1.16 ms in float, ~0.36 ms as QDQ (the same as a
hand-written QLinearConv node), but ~4 ms as ConvInteger + Cast + Mul (ORT's ConvInteger is an
unoptimised im2col path). QDQ also stays readable by other runtimes, so it is the format here.
Whole models (batch 1, 1 thread): FashionCNN (32, 64, 128) 0.141 -> 0.079 ms; but its tiny
depthwise-separable variant 0.039 -> 0.053 ms, because ORT's float depthwise / NCHWc kernels
beat QLinearConv at that size: measure before shipping int8 for such a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx

from tinyai.quantize.modules import QuantizedConv2d
from tinyai.quantize.weight_int8 import Int8WeightConv

if TYPE_CHECKING:
    from tinyai.quantize.onnx_pass import _Builder


def _qdq(
    b: _Builder, base: str, x: str, y: str, scale: float, zero_point: int, signed: bool
) -> list[onnx.NodeProto]:
    s = b.const(f"{base}.scale", np.array(scale, dtype=np.float32))
    z = b.const(f"{base}.zero_point", np.array(zero_point, dtype=np.int8 if signed else np.uint8))
    return [
        b.node("QuantizeLinear", [x, s, z], [f"{y}.q"]),
        b.node("DequantizeLinear", [f"{y}.q", s, z], [y]),
    ]


def output_qdq(b: _Builder, m: QuantizedConv2d, name: str, x: str, y: str) -> list[onnx.NodeProto]:
    """Quantize-dequantize of the layer's output (after its ReLU when it has one)."""
    scale, zp = float(m.output_scale), int(m.output_zero_point)
    return _qdq(b, f"{name}.output", x, y, scale, zp, m.output_signed)


def conv_nodes(
    b: _Builder, m: QuantizedConv2d, name: str, node: onnx.NodeProto
) -> list[onnx.NodeProto]:
    """Replacement for `node` (a float Conv). With `m.relu` the Conv writes its float output
    under the original name and `quantize_after_relu` puts the output QDQ after the Relu."""
    x, y = node.input[0], node.output[0]
    nodes = _qdq(b, f"{name}.input", x, f"{y}.x", float(m.input_scale),
                 int(m.input_zero_point), m.input_signed)  # fmt: skip
    ws = m.weight_scale.numpy().astype(np.float32)
    # Symmetric weights and int32 biases have zero points of 0, which is what DequantizeLinear
    # assumes when the input is absent: leaving the all-zero arrays out saves ~10% of a small
    # model's file (3.4 KB of the KWS DS-CNN), and ORT still fuses the QDQ group into a
    # QLinearConv.
    w_inputs = [b.const(f"{name}.weight_int8", m.weight_int8.numpy()),
                b.const(f"{name}.weight_scale", ws)]
    nodes.append(b.node("DequantizeLinear", w_inputs, [f"{y}.w"], axis=0))
    conv_inputs = [f"{y}.x", f"{y}.w"]
    if m.bias_int32 is not None:
        bias_scale = (m.input_scale * m.weight_scale).numpy().astype(np.float32)
        b_inputs = [b.const(f"{name}.bias_int32", m.bias_int32.numpy()),
                    b.const(f"{name}.bias_scale", bias_scale)]
        nodes.append(b.node("DequantizeLinear", b_inputs, [f"{y}.b"], axis=0))
        conv_inputs.append(f"{y}.b")
    conv_out = y if m.relu else f"{y}.conv"
    conv = b.node("Conv", conv_inputs, [conv_out])
    conv.attribute.extend(node.attribute)  # kernel, pads, strides, dilations, group as exported
    nodes.append(conv)
    if not m.relu:
        nodes += output_qdq(b, m, name, conv_out, y)
    return nodes


def int8_weight_conv_nodes(
    b: _Builder, m: Int8WeightConv, name: str, node: onnx.NodeProto
) -> list[onnx.NodeProto]:
    """The float Conv `node` fed from the layer's int8 weight: DequantizeLinear(axis 0)."""
    scale = m.weight_scale.numpy().astype(np.float32)
    # No zero-point input: symmetric weights (see conv_nodes).
    w_inputs = [b.const(f"{name}.weight_int8", m.weight_int8.numpy()),
                b.const(f"{name}.weight_scale", scale)]
    weight = f"{node.output[0]}.w"
    conv = onnx.NodeProto()
    conv.CopyFrom(node)
    conv.input[1] = weight
    return [b.node("DequantizeLinear", w_inputs, [weight], axis=0), conv]


def quantize_after_relu(
    b: _Builder, graph: onnx.GraphProto, pending: dict[str, tuple[str, QuantizedConv2d]]
) -> None:
    """Insert the output QDQ after the Relu that reads each ReLU-fused conv's output."""
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        new_nodes.append(node)
        if node.op_type != "Relu" or node.input[0] not in pending:
            continue
        name, m = pending.pop(node.input[0])
        y = node.output[0]
        node.output[0] = f"{y}.relu"
        new_nodes += output_qdq(b, m, name, f"{y}.relu", y)
    if pending:
        names = ", ".join(name for name, _ in pending.values())
        raise RuntimeError(f"no Relu found after the ReLU-fused quantized convs {names}")
    del graph.node[:]
    graph.node.extend(new_nodes)
