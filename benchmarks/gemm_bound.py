"""The int8 GEMM bound of a static int8 ONNX model: its integer GEMMs and nothing else.

`GemmBound(path)` copies every MatMulIntegerToFloat node of the model at `path` (with its own
int8 weights, scales, zero points and fused biases) into a graph of their own, each fed an
already-quantized activation of the right width, and runs that graph at the batch and sequence
length of the input it is called with. A QAttention node contributes its Q/K/V product as one
MatMulIntegerToFloat over the three weights side by side (onnxruntime's QAttention runs it as
one batched call of per-head int8 GEMMs; the one [K, 3N] product stands in for it). Its time is
what onnxruntime needs for the model's integer GEMMs alone, at the lengths measured;
everything else the model does (quantizing activations, attention, layer norms, GELU,
embeddings, pooling) is what a row spends above it.
Called like the benchmark's runners (`runner(ids, mask)`), so it is timed interleaved with them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

GEMM = "MatMulIntegerToFloat"
# QAttention's inputs in MatMulIntegerToFloat's order: x, weight, x scale, weight scale,
# x zero point, weight zero point, bias
QKV_AS_GEMM = (0, 1, 3, 4, 6, 7, 2)


def _gemm_inputs(node: onnx.NodeProto) -> list[str]:
    if node.op_type == GEMM:
        return list(node.input)
    inputs = list(node.input) + [""] * (8 - len(node.input))
    return [inputs[i] for i in QKV_AS_GEMM]


class GemmBound:
    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        model = onnx.load(str(path))
        inits = {t.name: t for t in model.graph.initializer}
        gemms = [_gemm_inputs(n) for n in model.graph.node if n.op_type in (GEMM, "QAttention")]
        if not gemms:
            raise ValueError(f"{path} has no {GEMM} nodes: not a static int8 model")
        if any(g[4] not in inits for g in gemms):
            raise ValueError(f"{path} quantizes activations at run time: not a static int8 model")
        self.nodes = len(gemms)
        self.inputs: dict[str, tuple[int, np.dtype]] = {}  # graph input -> (width, dtype)
        nodes, outputs, used = [], [], set()
        for i, inputs in enumerate(gemms):
            width = inits[inputs[1]].dims[0]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(inits[inputs[4]].data_type)
            name = f"x_{width}_{np.dtype(dtype).name}"
            self.inputs[name] = (width, np.dtype(dtype))
            nodes.append(
                helper.make_node(GEMM, [name, *inputs[1:]], [f"y{i}"], domain="com.microsoft")
            )
            # Every product is a graph output, so onnxruntime cannot prune any GEMM away.
            outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None))
            used.update(n for n in inputs[1:] if n)
        graph_inputs = [
            helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(dt), ["batch", "sequence", width]
            )
            for name, (width, dt) in self.inputs.items()
        ]
        graph = helper.make_graph(
            nodes, "int8_gemms", graph_inputs, outputs, [inits[n] for n in sorted(used)]
        )
        proto = helper.make_model(
            graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
        )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        self.obj, self.size = path, 0
        self._feeds: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._last = [f"y{len(gemms) - 1}"]

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = self._feeds.get(ids.shape)
        if feed is None:  # made once per shape, outside the timed calls that follow
            rng = np.random.default_rng(0)
            feed = {
                name: rng.integers(0, 127, size=(*ids.shape, width)).astype(dt)
                for name, (width, dt) in self.inputs.items()
            }
            self._feeds[ids.shape] = feed
        # Fetching one product is enough: the session runs every node of its graph regardless.
        return self.session.run(self._last, feed)[0]
