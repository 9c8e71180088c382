"""Does this CPU's ONNX Runtime compute tinyai's int8 products exactly?

    python benchmarks/int8_saturation.py

One `com.microsoft.DynamicQuantizeMatMul` (the node of tinyai's int8-dynamic layers; the
static scheme's MatMulIntegerToFloat uses the same u8 x s8 kernels) on random activations,
against the exact int32 product of the same quantized values, with weights spanning the
full int8 range (what tinyai writes) and 7-bit weights (ORT's `reduce_range`). On x86 CPUs
without VNNI, ORT's u8 x s8 kernels add pairs of products in int16 (VPMADDUBSW), which
saturates once |w| > 64: the first row then shows a large error and the second none. Prints
one JSON line with the CPU model and both relative errors.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

K, N, ROWS = 256, 64, 8


def relative_error(weight_max: int, rng: np.random.Generator) -> float:
    """max |ORT - exact| / max |exact| for weights drawn from [-weight_max, weight_max]."""
    weights = rng.integers(-weight_max, weight_max + 1, size=(K, N)).astype(np.int8)
    scale = np.array([0.01], np.float32)
    node = helper.make_node("DynamicQuantizeMatMul", ["A", "B", "s"], ["Y"],
                            domain="com.microsoft")
    graph = helper.make_graph(
        [node], "one_product", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [None, K])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, N])],
        [numpy_helper.from_array(weights, "B"), numpy_helper.from_array(scale, "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    a = rng.standard_normal((ROWS, K)).astype(np.float32)
    out = session.run(None, {"A": a})[0]
    # ORT's dynamic activation quantization: asymmetric u8 over [min(a, 0), max(a, 0)]
    lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
    a_scale = (hi - lo) / 255
    zero = np.round(-lo / a_scale)
    qa = np.clip(np.round(a / a_scale) + zero, 0, 255)
    exact = ((qa - zero) @ weights.astype(np.float64)) * a_scale * float(scale[0])
    return float(np.abs(out - exact).max() / np.abs(exact).max())


def main() -> None:
    from tinyai.recipe.records import cpu_model

    rng = np.random.default_rng(0)
    print(json.dumps({"cpu": cpu_model(), "onnxruntime": ort.__version__,
                      "int8_weights_rel_error": relative_error(127, rng),
                      "int7_weights_rel_error": relative_error(63, rng)}))


if __name__ == "__main__":
    main()
