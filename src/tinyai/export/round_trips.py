"""Drop chains of Reshapes that end in the shape they started from.

Fused attention leaves one per layer: ``MultiHeadAttention`` returns [B, S, H*d], the
translation of SDPA splits it into heads ([B, S, H, d]) because SDPA's callers expect that, and
the caller merges the heads again ([B, S, H*d]). The exporter's optimizer cannot drop the pair:
the second shape is computed at run time (``Concat`` of ``Shape`` slices). ONNX Runtime keeps
both nodes too, and at batch 1 every node costs launch time.

Reshape keeps the elements in row-major order, so a chain of Reshapes whose output has the
shape of its input is the identity. Shapes are compared as the exporter recorded them: a
dimension matches when both are the same integer or the same named symbol (torch.export's
symbols name one run-time size each); an unnamed or missing dimension never matches. So an
input that breaks the exported contract (two inputs declared with one "batch" symbol, fed
different batch sizes) is no longer stopped by a failing Reshape there.
"""

from __future__ import annotations

from onnxscript import ir
from onnxscript.ir.passes.common import RemoveUnusedNodesPass

_SHAPE_ONLY = ("Reshape", "Identity")


def drop_round_trip_reshapes(model: ir.Model) -> int:
    """Bypass every Reshape chain of `model`'s main graph whose output has its input's shape,
    then prune the nodes left unused; returns how many chains were bypassed."""
    graph = model.graph
    dropped = 0
    for node in list(graph):
        if node.op_type != "Reshape" or not _is_shape_only(node):
            continue
        result = node.outputs[0]
        source = _chain_start(node)
        if result.is_graph_output() or not _same_shape(source.shape, result.shape):
            continue
        result.replace_all_uses_with(source)
        dropped += 1
    if dropped:
        RemoveUnusedNodesPass()(model)
    return dropped


def _is_shape_only(node: ir.Node | None) -> bool:
    return node is not None and node.domain == "" and node.op_type in _SHAPE_ONLY


def _chain_start(node: ir.Node) -> ir.Value:
    """The tensor before the run of Reshape/Identity nodes that ends at `node`."""
    value = node.inputs[0]
    while value is not None and _is_shape_only(producer := value.producer()):
        value = producer.inputs[0]  # type: ignore[union-attr]
    assert value is not None
    return value


def _same_shape(a: ir.Shape | None, b: ir.Shape | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return all(same_dim(x, y) for x, y in zip(a, b, strict=True))


def same_dim(x: object, y: object) -> bool:
    """Whether two recorded dimensions are provably the same size: one integer, or one named
    symbol (an unnamed or missing dimension is never provably anything)."""
    if isinstance(x, int) or isinstance(y, int):
        return x == y
    named = isinstance(x, ir.SymbolicDim) and x.value is not None
    return named and isinstance(y, ir.SymbolicDim) and x.value == y.value
