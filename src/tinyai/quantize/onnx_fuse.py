"""Small clean-ups after the integer rewrite that ONNX Runtime does not do by itself.

- bias fusion: the exporter leaves Linear's bias as a separate Add; the integer contrib ops
  take the bias as an input, which saves a pass over the activations per layer.
- shared input quantization: Q, K and V read the same tensor and were calibrated on the same
  data, so their QuantizeLinear nodes are identical; quantize once.
- residual adds as Sum: see `keep_layernorm_unfused`.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper

# op type -> index of its optional bias input
_BIAS_SLOT = {"DynamicQuantizeMatMul": 4, "MatMulIntegerToFloat": 6, "MatMulNBits": 5}


def fuse_bias(graph: onnx.GraphProto) -> int:
    """Fold `Add(op_output, bias_initializer[N])` into the op's bias input; returns count."""
    inits = {t.name: t for t in graph.initializer}
    # Nodes are tracked by position: protobuf wrapper objects have no stable identity.
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    outputs = {o.name for o in graph.output}
    dropped: set[int] = set()
    for node in graph.node:
        slot = _BIAS_SLOT.get(node.op_type)
        y = node.output[0] if node.output else ""
        users = consumers.get(y, [])
        if slot is None or y in outputs or len(users) != 1 or graph.node[users[0]].op_type != "Add":
            continue
        add = graph.node[users[0]]
        bias = add.input[1] if add.input[0] == y else add.input[0]
        if bias not in inits or len(inits[bias].dims) != 1 or len(node.input) > slot:
            continue
        inputs = list(node.input) + [""] * (slot - len(node.input)) + [bias]
        del node.input[:]
        node.input.extend(inputs)
        node.output[0] = add.output[0]
        dropped.add(users[0])
    _drop(graph, dropped)
    return len(dropped)


def constant_bytes(inits: dict[str, onnx.TensorProto], name: str) -> bytes | None:
    """The bytes of initializer `name` (to compare constants by value), None if not one."""
    return numpy_helper.to_array(inits[name]).tobytes() if name in inits else None


def share_input_quantization(graph: onnx.GraphProto) -> int:
    """Merge QuantizeLinear nodes with the same input and equal scale/zero point."""
    inits = {t.name: t for t in graph.initializer}

    def value(name: str) -> bytes:
        data = constant_bytes(inits, name)
        return name.encode() if data is None else data

    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    dropped: set[int] = set()
    for i, node in enumerate(graph.node):
        if node.op_type != "QuantizeLinear" or len(node.input) < 3:
            continue
        key = (node.input[0], value(node.input[1]), value(node.input[2]))
        if key in first:
            rename[node.output[0]] = first[key]
            dropped.add(i)
        else:
            first[key] = node.output[0]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    _drop(graph, dropped)
    return len(dropped)


def keep_layernorm_unfused(graph: onnx.GraphProto) -> int:
    """Write the Add that feeds a LayerNormalization as Sum (same math); returns the count.

    ONNX Runtime fuses Add -> LayerNormalization into com.microsoft.SkipLayerNormalization,
    whose CPU kernel is a scalar per-row loop: profiled on MiniLM at batch 1 (one thread) it
    takes ~23 us per [1, 11, 384] call against ~11 us for the Add plus the vectorised
    LayerNormalization it replaces, 12 times per sentence. The fusion only matches an Add
    parent, so a Sum keeps the two fast kernels.
    """
    producers = {out: node for node in graph.node for out in node.output}
    count = 0
    for node in graph.node:
        parent = producers.get(node.input[0]) if node.op_type == "LayerNormalization" else None
        if parent is not None and parent.op_type == "Add" and parent.domain in ("", "ai.onnx"):
            parent.op_type = "Sum"
            count += 1
    return count


def _drop(graph: onnx.GraphProto, positions: set[int]) -> None:
    for i in sorted(positions, reverse=True):
        del graph.node[i]
