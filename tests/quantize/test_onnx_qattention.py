"""fuse_quantized_attention: what it fuses, what it leaves, and that ORT computes the same."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tinyai.quantize.onnx_qattention import fuse_quantized_attention

HIDDEN, HEADS, TOKENS = 16, 2, 5
MS = "com.microsoft"


@dataclass
class Layer:
    dynamic: bool = False  # DynamicQuantizeMatMul instead of QuantizeLinear + MatMulIntegerToFloat
    scalar_scales: bool = False  # one weight scale for Q, K and V
    layers: int = 1  # stacked layers, each reading the previous one's output
    shared: bool = False  # every layer uses the same Q/K/V tensors (ALBERT)
    # what QAttention cannot express:
    attention_bias: bool = False
    product_read_twice: bool = False
    int8_input: bool = False
    other_input_scale: bool = False
    weight_zero_point: bool = False


def model(spec: Layer) -> onnx.ModelProto:
    """x -> (quantize ->) 3 int8 products (Q, K, V) -> MultiHeadAttention, `layers` times."""
    rng = np.random.default_rng(0)
    zero_type = np.int8 if spec.int8_input else np.uint8
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0.07, np.float32), "x_scale_other"),
        numpy_helper.from_array(np.array(0 if spec.int8_input else 128, zero_type), "x_zero"),
        numpy_helper.from_array(np.array(3, np.int8), "w_zero"),
        numpy_helper.from_array(rng.normal(size=(1, HEADS, 1, 1)).astype(np.float32), "bias"),
    ]
    nodes, x = [], "x"
    for layer in range(spec.layers):
        tag = "" if spec.shared else str(layer)
        if not spec.dynamic:
            quantize = helper.make_node("QuantizeLinear", [x, "x_scale", "x_zero"], [f"xq{layer}"])
            nodes.append(quantize)
        for name in ("q", "k", "v"):
            weight = rng.integers(-127, 128, (HIDDEN, HIDDEN)).astype(np.int8)
            scale = np.float32(0.015) if spec.scalar_scales else rng.uniform(0.01, 0.02, HIDDEN)
            if not spec.shared or layer == 0:
                inits += [
                    numpy_helper.from_array(weight, f"{name}{tag}_w"),
                    numpy_helper.from_array(np.asarray(scale, np.float32), f"{name}{tag}_s"),
                    numpy_helper.from_array(
                        rng.normal(size=HIDDEN).astype(np.float32), f"{name}{tag}_b"
                    ),
                ]
            zero = "w_zero" if spec.weight_zero_point and name == "k" else ""
            if spec.dynamic:
                inputs = [x, f"{name}{tag}_w", f"{name}{tag}_s", zero, f"{name}{tag}_b"]
                op = "DynamicQuantizeMatMul"
            else:
                x_scale = "x_scale_other" if spec.other_input_scale and name == "v" else "x_scale"
                inputs = [
                    f"xq{layer}",
                    f"{name}{tag}_w",
                    x_scale,
                    f"{name}{tag}_s",
                    "x_zero",
                    zero,
                    f"{name}{tag}_b",
                ]
                op = "MatMulIntegerToFloat"
            nodes.append(helper.make_node(op, inputs, [f"{name}{layer}"], domain=MS))
        mha_inputs = [f"q{layer}", f"k{layer}", f"v{layer}", "", "mask"]
        mha_inputs += ["bias"] if spec.attention_bias else []
        nodes.append(
            helper.make_node(
                "MultiHeadAttention", mha_inputs, [f"y{layer}"], domain=MS, num_heads=HEADS
            )
        )
        x = f"y{layer}"
    outputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)]
    if spec.product_read_twice:
        nodes.append(helper.make_node("Relu", ["v0"], ["v_relu"]))
        outputs.append(helper.make_tensor_value_info("v_relu", TensorProto.FLOAT, None))
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, TOKENS, HIDDEN]),
        helper.make_tensor_value_info("mask", TensorProto.INT32, [1, TOKENS]),
    ]
    graph = helper.make_graph(nodes, "layers", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def run(proto: onnx.ModelProto) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(1, TOKENS, HIDDEN)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0]], np.int32)  # the last two keys are padding
    return sess.run([proto.graph.output[0].name], {"x": x, "mask": mask})[0]


def ops(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


@pytest.mark.parametrize(
    ("spec", "fused_ops"),
    [
        (Layer(), ["QuantizeLinear", "QAttention"]),
        (Layer(dynamic=True), ["DynamicQuantizeLinear", "QAttention"]),
        (Layer(scalar_scales=True), ["QuantizeLinear", "QAttention"]),
        (Layer(layers=2), ["QuantizeLinear", "QAttention"] * 2),
    ],
    ids=["static", "dynamic", "one-scale", "two-layers"],
)
def test_qkv_products_and_attention_become_one_qattention_that_computes_the_same(
    spec: Layer, fused_ops: list[str]
) -> None:
    proto = model(spec)
    want = run(proto)
    assert fuse_quantized_attention(proto.graph) == spec.layers
    assert ops(proto) == fused_ops
    np.testing.assert_allclose(run(proto), want, atol=1e-5, rtol=0)
    scale = next(t for t in proto.graph.initializer if t.name.endswith("qkv_weight_scale"))
    # equal per-tensor scales stay one scalar (ORT's per-tensor path); else one per column
    assert list(scale.dims) == ([] if spec.scalar_scales else [3 * HIDDEN])


def test_layers_sharing_their_weights_share_the_side_by_side_copy() -> None:
    proto = model(Layer(layers=3, shared=True))
    want = run(proto)
    assert fuse_quantized_attention(proto.graph) == 3
    fused = [t.name for t in proto.graph.initializer if ".qkv_" in t.name]
    assert len(fused) == 3  # one weight, scale and bias for the three layers
    assert {n.input[1] for n in proto.graph.node if n.op_type == "QAttention"} == {fused[0]}
    np.testing.assert_allclose(run(proto), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "case",
    [
        "attention_bias",
        "product_read_twice",
        "int8_input",
        "other_input_scale",
        "weight_zero_point",
    ],
)
def test_what_qattention_cannot_express_is_left_alone(case: str) -> None:
    proto = model(Layer(**{case: True}))
    before = ops(proto)
    assert fuse_quantized_attention(proto.graph) == 0
    assert ops(proto) == before
