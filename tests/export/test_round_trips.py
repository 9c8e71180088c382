"""Reshape chains that end in the shape they started from are dropped (tinyai.export.round_trips).

Each case is a small graph built by hand; where a chain is dropped, ONNX Runtime runs the graph
before and after, so the dropped chain is checked to have been the identity."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxscript import ir

from tinyai.export.round_trips import drop_round_trip_reshapes

SPLIT = helper.make_tensor("split", TensorProto.INT64, [4], [0, 0, 2, 3])


def graph(output_dims: list[str | int | None] | None) -> onnx.ModelProto:
    """x [b, s, 6] -> Relu -> Reshape [0, 0, 2, 3] -> Identity -> Reshape to the Relu's
    run-time shape -> Relu -> y; `output_dims`: the shape recorded for the merge's output."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    merged = helper.make_tensor_value_info("merged", TensorProto.FLOAT, output_dims)
    nodes = [
        helper.make_node("Relu", ["x"], ["h"]),
        helper.make_node("Reshape", ["h", "split"], ["split_out"]),
        helper.make_node("Identity", ["split_out"], ["same"]),
        helper.make_node("Shape", ["h"], ["h_shape"]),
        helper.make_node("Reshape", ["same", "h_shape"], ["merged"]),
        helper.make_node("Relu", ["merged"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [x], [y], initializer=[SPLIT], value_info=[merged])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def run(proto: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    """Every output of `proto` on `x`."""
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def cleaned(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    model = ir.serde.deserialize_model(proto)
    # the recorded shape of the Relu's output, as an exporter records every value's
    model.graph.node(0).outputs[0].shape = ir.Shape([ir.SymbolicDim("b"), ir.SymbolicDim("s"), 6])
    dropped = drop_round_trip_reshapes(model)
    return ir.serde.serialize_model(model), dropped


def reshapes(proto: onnx.ModelProto) -> int:
    return sum(n.op_type == "Reshape" for n in proto.graph.node)


def test_a_split_and_merge_back_to_the_same_symbols_is_dropped() -> None:
    before = graph(["b", "s", 6])
    after, dropped = cleaned(before)
    assert dropped == 1 and reshapes(after) == 0
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(after, x)[0], run(before, x)[0])


@pytest.mark.parametrize(
    "output_dims",
    [
        ["s", "b", 6],  # other symbols (a transposed-looking shape): not provably the same
        ["b", "s", 3],  # another size
        ["b", None, 6],  # an unnamed dimension
        None,  # no recorded shape
    ],
)
def test_a_chain_is_kept_unless_its_shape_is_provably_its_input_shape(
    output_dims: list[str | int | None] | None,
) -> None:
    before = graph(output_dims)
    after, dropped = cleaned(before)
    assert dropped == 0 and reshapes(after) == 2


def test_a_chain_that_is_a_graph_output_is_kept() -> None:
    proto = graph(["b", "s", 6])
    del proto.graph.node[-1]  # the merge's output is now the graph's output
    proto.graph.output[0].name = "merged"
    after, dropped = cleaned(proto)
    assert dropped == 0 and [o.name for o in after.graph.output] == ["merged"]


def test_a_split_another_node_reads_stays_for_it() -> None:
    before = graph(["b", "s", 6])
    before.graph.node.append(helper.make_node("Relu", ["split_out"], ["heads"]))
    before.graph.output.append(helper.make_tensor_value_info("heads", TensorProto.FLOAT, None))
    after, dropped = cleaned(before)
    assert dropped == 1 and reshapes(after) == 1  # the merge went, the split feeds "heads"
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    for want, got in zip(run(before, x), run(after, x), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_chain_from_a_graph_input_reads_the_input() -> None:
    before = graph(["b", "s", 6])
    relu = before.graph.node[0]
    before.graph.node.remove(relu)  # the split and the merge's Shape now read x itself
    for node in before.graph.node:
        node.input[:] = ["x" if name == "h" else name for name in node.input]
    model = ir.serde.deserialize_model(before)
    assert drop_round_trip_reshapes(model) == 1
    after = ir.serde.serialize_model(model)
    assert reshapes(after) == 0 and after.graph.node[-1].input[0] == "x"
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(after, x)[0], run(before, x)[0])
