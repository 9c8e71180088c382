"""Drop what onnxruntime never reads from the graph that ships, so model.onnx is only the model.

The dynamo exporter annotates every intermediate value with its shape (``value_info``), every
value and the graph with torch.export bookkeeping (``metadata_props``: the graph signature,
original node names) and names every node. On a Deep-Compressed Fashion-MNIST CNN these were
4.2 kB of a 10 kB model.onnx, a fifth of the artifact.

Names, doc strings and metadata go. Shape annotations are optional in ONNX, but onnxruntime
does read them: some graph fusions need to see equal shapes on both inputs (without them
MiniLM's 12 SkipLayerNormalization fusions do not happen and its outputs change in the last
bits). So an annotation is dropped only when ONNX shape inference, which onnxruntime runs at
load, derives the same type and shape (axis names included) without it; the rest stay (74 B
for that CNN, 10 kB for MiniLM's 90 MB graph).

Kept: graph inputs/outputs with their types and shapes (named dynamic axes included; the
manifest and the runtime read them), initializers, nodes and their attributes, opset imports,
the model's own ``metadata_props`` (onnxruntime exposes them as custom metadata) and the
producer fields (a few bytes that say which exporter wrote the file).

It runs after the ONNX checker and before the graph is saved, so the export-time parity check
runs the stripped file that ships.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx


def strip_annotations(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Remove derivable value_info, doc strings, node names and metadata, in place."""
    proto.doc_string = ""
    _keep_underivable_shapes(proto)
    _strip_graph(proto.graph)
    for function in proto.functions:
        # Model-local functions are called by name and keep it; their internals are stripped
        # (their value_info stays: inference of a function body is not checked here).
        del function.metadata_props[:]
        function.doc_string = ""
        _strip_nodes(function.node)
    return proto


def _keep_underivable_shapes(proto: onnx.ModelProto) -> None:
    """Reduce the main graph's value_info to what shape inference would not re-derive."""
    from onnx import shape_inference

    graph = proto.graph
    annotated = [copy.deepcopy(v) for v in graph.value_info]
    del graph.value_info[:]
    try:
        derived = shape_inference.infer_shapes(proto).graph.value_info
    except Exception:  # inference refused the graph: keep every annotation, to be safe
        graph.value_info.extend(annotated)
        return
    inferred = {v.name: v for v in derived}
    # Annotations of initializers (typed by their data) and of values no node produces any
    # more (a graph pass replaced it) say nothing onnxruntime could use.
    produced = {name for node in graph.node for name in node.output}
    produced -= {v.name for v in graph.output}
    graph.value_info.extend(
        v for v in annotated if v.name in produced and not _same_type(v.type, inferred.get(v.name))
    )


def _same_type(annotated: Any, inferred: Any) -> bool:
    """Whether inference knows at least what the annotation says (type, rank, each axis)."""
    if inferred is None:
        return False
    if not annotated.HasField("tensor_type"):
        return annotated == inferred.type
    mine, theirs = annotated.tensor_type, inferred.type.tensor_type
    if mine.elem_type != theirs.elem_type:
        return False
    if not mine.HasField("shape"):
        return True
    if not theirs.HasField("shape") or len(mine.shape.dim) != len(theirs.shape.dim):
        return False
    return all(
        (a.dim_value, a.dim_param) == (b.dim_value, b.dim_param)
        for a, b in zip(mine.shape.dim, theirs.shape.dim, strict=True)
        if a.dim_value or a.dim_param
    )


def _strip_graph(graph: Any) -> None:
    for value in graph.value_info:
        del value.metadata_props[:]
        value.doc_string = ""
    del graph.metadata_props[:]
    graph.doc_string = ""
    for value in [*graph.input, *graph.output]:
        del value.metadata_props[:]
        value.doc_string = ""
    for tensor in graph.initializer:
        del tensor.metadata_props[:]
        tensor.doc_string = ""
    _strip_nodes(graph.node)


def _strip_nodes(nodes: Any) -> None:
    from onnx import AttributeProto

    for node in nodes:
        node.name = ""
        node.doc_string = ""
        del node.metadata_props[:]
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                _strip_graph(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for subgraph in attr.graphs:
                    _strip_graph(subgraph)
