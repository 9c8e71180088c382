"""The integer rewrite of a recurrent layer's weights for an `Int8WeightRNN`.

The exporter turns a GRU / LSTM into one ONNX GRU / LSTM node per layer, whose W and R
initializers hold the torch weights with the gates reordered (ONNX: z r h / i o f c; torch:
r z n / i f g o) and constant-folded. A weight is found by the *set* of its rows, which the
reordering keeps, and is replaced by DequantizeLinear of the layer's own int8 rows, put in
the initializer's row order: the numbers are tinyai's, not re-quantized.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import numpy_helper

from tinyai.quantize.weight_int8 import Int8WeightRNN

if TYPE_CHECKING:
    from tinyai.quantize.onnx_pass import _Builder

ROWS = "rows:"  # prefix of these entries in the rewrite's fingerprint table


def rows_fingerprint(array: np.ndarray) -> str:
    """The same for any order of the rows of a [..., in] float array (leading axes flat)."""
    rows = np.ascontiguousarray(array, dtype=np.float32).reshape(-1, array.shape[-1])
    digests = sorted(hashlib.sha1(row.tobytes()).digest() for row in rows)
    return ROWS + hashlib.sha1(str(rows.shape).encode() + b"".join(digests)).hexdigest()


def rnn_entries(name: str, module: Int8WeightRNN, match: Any) -> dict[str, Any]:
    """Fingerprint -> match(`name.weight`, module) for each of the layer's weights."""
    return {rows_fingerprint(module.dequantized(w).numpy()): match(f"{name}.{w}", module, False)
            for w in module.weights()}


def rewrite_rnn_weights(b: _Builder, graph: onnx.GraphProto, table: dict[str, Any]) -> int:
    """Replace each initializer holding a quantized recurrent weight by DequantizeLinear of
    its int8 rows; returns how many were replaced."""
    if not any(key.startswith(ROWS) for key in table):
        return 0
    replaced: list[onnx.NodeProto] = []
    keep = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        hit = table.get(rows_fingerprint(array)) if array.ndim in (2, 3) and \
            array.dtype == np.float32 else None
        if hit is None:
            keep.append(init)
            continue
        replaced.append(_dequantize_node(b, init.name, array, hit.module,
                                         hit.name.rpartition(".")[2]))
    if replaced:
        del graph.initializer[:]
        graph.initializer.extend(keep)
        names = {node.output[0] for node in replaced}
        inputs = [v for v in graph.input if v.name not in names]
        del graph.input[:]
        graph.input.extend(inputs)
        nodes = replaced + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return len(replaced)


def _dequantize_node(b: _Builder, name: str, array: np.ndarray, module: Int8WeightRNN,
                     weight: str) -> onnx.NodeProto:
    """DequantizeLinear producing `name`: the int8 rows of `weight` in `array`'s row order."""
    values = module.dequantized(weight).numpy()
    index = {values[i].tobytes(): i for i in range(len(values))}
    order = [index[row.tobytes()] for row in array.reshape(-1, array.shape[-1])]
    codes = getattr(module, f"{weight}_int8").numpy()[order].reshape(array.shape)
    scale = getattr(module, f"{weight}_scale").numpy().astype(np.float32)[order]
    inputs = [b.const(f"{name}.int8", codes), b.const(f"{name}.scale", scale),
              b.const(f"{name}.zero_point", np.zeros(scale.shape, dtype=np.int8))]
    return b.node("DequantizeLinear", inputs, [name], axis=array.ndim - 2)
