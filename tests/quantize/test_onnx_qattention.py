"""fuse_quantized_attention: what it fuses, what it leaves, and that ORT computes the same."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tinyai.quantize.onnx_qattention import fuse_quantized_attention

HIDDEN, HEADS = 16, 2
MS = "com.microsoft"


def layer(attention_bias: bool = False, product_read_twice: bool = False) -> onnx.ModelProto:
    """x -> QuantizeLinear -> 3 MatMulIntegerToFloat (Q, K, V) -> MultiHeadAttention."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "x_zero"),
        numpy_helper.from_array(rng.normal(size=(1, HEADS, 1, 1)).astype(np.float32), "bias"),
    ]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"])]
    for name in ("q", "k", "v"):
        weight = rng.integers(-127, 128, (HIDDEN, HIDDEN)).astype(np.int8)
        inits += [
            numpy_helper.from_array(weight, f"{name}_w"),
            numpy_helper.from_array(
                rng.uniform(0.01, 0.02, HIDDEN).astype(np.float32), f"{name}_s"
            ),
            numpy_helper.from_array(rng.normal(size=HIDDEN).astype(np.float32), f"{name}_b"),
        ]
        inputs = ["xq", f"{name}_w", "x_scale", f"{name}_s", "x_zero", "", f"{name}_b"]
        nodes.append(helper.make_node("MatMulIntegerToFloat", inputs, [name], domain=MS))
    mha_inputs = ["q", "k", "v", "", "mask"] + (["bias"] if attention_bias else [])
    nodes.append(
        helper.make_node("MultiHeadAttention", mha_inputs, ["y"], domain=MS, num_heads=HEADS)
    )
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if product_read_twice:
        nodes.append(helper.make_node("Relu", ["v"], ["v_relu"]))
        outputs.append(helper.make_tensor_value_info("v_relu", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "layer",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, HIDDEN]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, [1, 5]),
        ],
        outputs,
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def run(model: onnx.ModelProto) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(1, 5, HIDDEN)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0]], np.int32)  # the last two keys are padding
    return sess.run(["y"], {"x": x, "mask": mask})[0]


def test_qkv_products_and_attention_become_one_qattention_that_computes_the_same() -> None:
    model = layer()
    want = run(model)
    assert fuse_quantized_attention(model.graph) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["QuantizeLinear", "QAttention"]
    np.testing.assert_allclose(run(model), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", ["attention_bias", "product_read_twice"])
def test_what_qattention_cannot_express_is_left_alone(case: str) -> None:
    model = layer(**{case: True})
    before = [n.op_type for n in model.graph.node]
    assert fuse_quantized_attention(model.graph) == 0
    assert [n.op_type for n in model.graph.node] == before
