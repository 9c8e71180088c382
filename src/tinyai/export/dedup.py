"""Store each weight once: initializers that repeat another, or its transpose, are rebuilt
from it.

A weight tied between two modules (an LM's embedding and its output layer) reaches the
exporter as one tensor used twice, and the torchscript exporter writes it twice: once as the
Gather table, once transposed and constant-folded for the MatMul. This pass keeps the first
copy and feeds the other use from it (directly, or through a Transpose node that ONNX
Runtime folds once when it loads the model), so the file holds the matrix once.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import AttributeProto, helper, numpy_helper

MIN_BYTES = 1024  # small constants (shapes, scales) are not worth a node


def dedup_initializers(proto: onnx.ModelProto, min_bytes: int = MIN_BYTES) -> int:
    """Drop repeated initializers of at least `min_bytes`; returns how many were dropped."""
    graph = proto.graph
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}
    transposed: dict[str, str] = {}
    outputs = {value.name for value in graph.output}
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.nbytes < min_bytes or init.name in outputs:
            continue
        key = _key(array)
        if key in first:
            same[init.name] = first[key]
        elif array.ndim == 2 and _key(array.T) in first:
            transposed[init.name] = first[_key(array.T)]
        else:
            first[key] = init.name
    dropped = set(same) | set(transposed)
    if not dropped:
        return 0
    keep = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    inputs = [v for v in graph.input if v.name not in dropped]
    del graph.input[:]
    graph.input.extend(inputs)
    _rename_inputs(graph, same)
    rebuilt = [helper.make_node("Transpose", [source], [name], name=f"tinyai_tied_{name}",
                                perm=[1, 0]) for name, source in transposed.items()]
    nodes = rebuilt + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(dropped)


def _key(array: np.ndarray) -> tuple:
    data = np.ascontiguousarray(array)
    return data.dtype.str, data.shape, hashlib.sha1(data.tobytes()).hexdigest()


def _rename_inputs(graph: onnx.GraphProto, renamed: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [renamed.get(n, n) for n in node.input]
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                _rename_inputs(attr.g, renamed)
