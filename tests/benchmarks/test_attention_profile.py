"""attention_fusion.py --profile: kernel time per op type from onnxruntime's own profiler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from benchmarks.attention_fusion import _profile_table, kernel_profile
from onnx import TensorProto, helper, numpy_helper


def tiny_graph(path: Path) -> Path:
    """input_ids -> Cast -> Unsqueeze -> MatMul -> Relu: four op types, one node each; no mask."""
    weight = numpy_helper.from_array(np.ones((1, 4), np.float32), "w")
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["f", "axes"], ["f3"]),
        helper.make_node("MatMul", ["f3", "w"], ["h"]),
        helper.make_node("Relu", ["h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, 4])],
        [weight, numpy_helper.from_array(np.array([-1], np.int64), "axes")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_kernel_profile_counts_each_op_per_sentence_after_the_warm_up_round(
    tmp_path: Path,
) -> None:
    sentences = [(np.ones((1, n), np.int64), np.ones((1, n), np.int64)) for n in (3, 5, 7)]
    profile = kernel_profile(tiny_graph(tmp_path / "tiny.onnx"), sentences, 3, tmp_path)
    ops = profile["ops"]
    # each sentence runs each node once; the mask the graph does not take is not fed
    assert {op: entry["nodes"] for op, entry in ops.items()} == {
        "Cast": 1, "Unsqueeze": 1, "MatMul": 1, "Relu": 1
    }
    # the total is summed before dividing by the call count, the parts after: equal to rounding
    assert profile["kernels_us"] == pytest.approx(sum(entry["us"] for entry in ops.values()))
    assert profile["kernels_us"] > 0
    assert profile["model_run_us"] >= profile["kernels_us"]
    assert "| MatMul |" in _profile_table({"variant": "tiny", "profile": profile})
