"""Q, K, V products and the attention core as one ``com.microsoft::QAttention`` node.

After the integer rewrite, a BERT layer's attention is three int8 products (Q, K and V, each
reading the same quantized activation) feeding one ``MultiHeadAttention``
(`tinyai.export.attention`). ``QAttention`` does all four in one kernel, given the three
weights side by side (``[K, 3N]``): onnxruntime's CPU kernel prepacks them per head and runs
the Q/K/V products as one batched int8 GEMM call, then the same attention core. The arithmetic
is the same (the same int8 weights, scales, biases and input quantization); what goes is three
nodes per layer and two of the three GEMM calls. The key-padding mask is taken as
`tinyai.export.attention` writes it (int32 ``[B, T]``, 1 = attend), which QAttention reads the
same way.

Static and QAT int8 (``MatMulIntegerToFloat`` fed by one ``QuantizeLinear``) pass the
quantized activation and its calibrated scale straight in. Dynamic int8
(``DynamicQuantizeMatMul``, which quantizes its input itself, three times over) gets one
``DynamicQuantizeLinear`` in front: the same uint8 quantization, done once. Measured at batch 1
on Zen 4 (BENCHMARKS.md, "QAttention"): the 2-layer dynamic SST-2 student 7% faster with
bit-identical logits; on the static MiniLM teacher no change beyond run-to-run noise.
Left as it is: 4-bit products (QAttention multiplies int8 only), attention bias and past
key/values (QAttention has no input for them), causal attention (not made fused by
`tinyai.export.attention` anyway), unequal Q/K/V widths (one ``[K, 3N]`` weight), float16
scales or biases and int8 activations (onnxruntime's CPU kernel takes float32 and uint8).
Layers sharing their Q/K/V weights (ALBERT) share the side-by-side copy too.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tinyai.quantize.onnx_fuse import constant_bytes

MS_DOMAIN = "com.microsoft"
_STATIC, _DYNAMIC = "MatMulIntegerToFloat", "DynamicQuantizeMatMul"
# op -> (weight, weight scale, weight zero point, bias) input slots
_SLOTS = {_STATIC: (1, 3, 5, 6), _DYNAMIC: (1, 2, 3, 4)}
_ATTRIBUTES = ("num_heads", "scale", "mask_filter_value")  # what MHA and QAttention share


def fuse_quantized_attention(graph: onnx.GraphProto) -> int:
    """Replace each (3 integer products -> MultiHeadAttention) by QAttention; returns count."""
    inits = {t.name: t for t in graph.initializer}
    side_by_side: dict[tuple[str, ...], list[str]] = {}  # Q/K/V tensors -> their fused copies
    taken = set(inits) | {out for node in graph.node for out in node.output}
    producers = {out: i for i, node in enumerate(graph.node) for out in node.output}
    readers = Counter(name for node in graph.node for name in node.input)
    outputs = {o.name for o in graph.output}
    replace: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for i, mha in enumerate(graph.node):
        if mha.op_type != "MultiHeadAttention" or mha.domain != MS_DOMAIN:
            continue
        positions = [producers.get(name, -1) for name in mha.input[:3]]
        products = [graph.node[p] for p in positions if p >= 0]
        if not _fusable(mha, products, inits, readers, outputs):
            continue
        replace[i] = _qattention(graph, mha, products, inits, side_by_side, taken)
        dropped.update(positions)
    if not replace:
        return 0
    new = []
    for i, node in enumerate(graph.node):
        if i not in dropped:
            new.extend(replace.get(i, [node]))
    del graph.node[:]
    graph.node.extend(new)  # the old weights are left to the caller's unused-initializer sweep
    return len(replace)


def _fusable(
    mha: onnx.NodeProto,
    products: list[onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    readers: Counter[str],
    outputs: set[str],
) -> bool:
    """Whether `mha` reads three products QAttention can compute: same kind, same input, read
    by nothing else, and nothing of MultiHeadAttention's that QAttention lacks."""
    attrs = {a.name: helper.get_attribute_value(a) for a in mha.attribute}
    if _input(mha, 3) or any(mha.input[5:]) or attrs.get("unidirectional", 0):
        return False  # bias on Q/K/V, attention bias, past key/values, causal
    if any(mha.output[1:]) or len(products) != 3 or len({p.op_type for p in products}) != 1:
        return False
    if products[0].op_type not in _SLOTS or len({p.input[0] for p in products}) != 1:
        return False
    if any(readers.get(p.output[0]) != 1 or p.output[0] in outputs for p in products):
        return False  # a product that something else reads too must stay
    return _weights_fusable(products, inits) and _input_fusable(products, inits)


def _weights_fusable(products: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto]) -> bool:
    """Constant int8 weights of equal shapes (QAttention: equal Q/K/V widths), constant
    float32 scales and biases, zero weight zero points (QAttention takes one for all three)."""
    w, w_scale, w_zero, bias = _SLOTS[products[0].op_type]
    weights = [inits.get(_input(p, w)) for p in products]
    if any(t is None or t.data_type != TensorProto.INT8 or len(t.dims) != 2 for t in weights):
        return False
    if len({tuple(t.dims) for t in weights if t is not None}) != 1:
        return False
    for p in products:
        zero = _input(p, w_zero)
        if zero and (zero not in inits or numpy_helper.to_array(inits[zero]).any()):
            return False
        constants = [_input(p, w_scale)] + ([_input(p, bias)] if _input(p, bias) else [])
        if any(c not in inits or inits[c].data_type != TensorProto.FLOAT for c in constants):
            return False
    return True


def _input_fusable(products: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto]) -> bool:
    """Static: one quantized input whose constant scale and zero point the three share, uint8
    (what onnxruntime's CPU kernel takes). Dynamic: quantized in front of QAttention."""
    if products[0].op_type == _DYNAMIC:
        return True
    keys = {(constant_bytes(inits, _input(p, 2)), constant_bytes(inits, _input(p, 4)))
            for p in products}  # fmt: skip
    zero = inits.get(_input(products[0], 4))
    return (
        len(keys) == 1
        and None not in next(iter(keys))
        and zero is not None
        and zero.data_type == TensorProto.UINT8
    )


def _qattention(
    graph: onnx.GraphProto,
    mha: onnx.NodeProto,
    products: list[onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    side_by_side: dict[tuple[str, ...], list[str]],
    taken: set[str],
) -> list[onnx.NodeProto]:
    """The node(s) that replace `products` and `mha`; adds the fused weight, scale and bias."""
    op = products[0].op_type
    slots = _SLOTS[op]
    key = tuple(_input(p, slot) for p in products for slot in slots)
    if key not in side_by_side:
        side_by_side[key] = _add_side_by_side(graph, products, inits, mha.output[0], taken)
    names = side_by_side[key]
    prefix = mha.output[0]
    mask = _input(mha, 4)
    nodes = []
    if op == _STATIC:
        x, x_scale, x_zero = products[0].input[0], products[0].input[2], products[0].input[4]
    else:
        x, x_scale, x_zero = (
            _fresh(f"{prefix}.qkv_input{s}", taken) for s in ("", "_scale", "_zero_point")
        )
        nodes.append(
            helper.make_node(
                "DynamicQuantizeLinear",
                [products[0].input[0]],
                [x, x_scale, x_zero],
                name=f"{prefix}.qkv_quantize",
            )
        )
    attrs = {a.name: helper.get_attribute_value(a) for a in mha.attribute if a.name in _ATTRIBUTES}
    nodes.append(
        helper.make_node(
            "QAttention",
            [x, names[0], names[2], x_scale, names[1], mask, x_zero],
            [mha.output[0]],
            name=f"{prefix}.qattention",
            domain=MS_DOMAIN,
            **attrs,
        )
    )
    return nodes


def _add_side_by_side(
    graph: onnx.GraphProto,
    products: list[onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    prefix: str,
    taken: set[str],
) -> list[str]:
    """Q/K/V weights, scales and biases concatenated along the output axis; their names."""
    w, w_scale, _, bias = _SLOTS[products[0].op_type]
    weights = [numpy_helper.to_array(inits[_input(p, w)]) for p in products]
    width = weights[0].shape[1]
    scales = [numpy_helper.to_array(inits[_input(p, w_scale)]) for p in products]
    if all(s.size == 1 for s in scales) and len({s.item() for s in scales}) == 1:
        scale = scales[0].reshape(())  # one scale for all: onnxruntime's per-tensor path
    else:
        scale = np.concatenate([np.broadcast_to(s, (width,)) for s in scales])
    biases = [
        numpy_helper.to_array(inits[_input(p, bias)])
        if _input(p, bias)
        else np.zeros(width, np.float32)
        for p in products
    ]
    names = []
    for suffix, array in (
        ("qkv_weight", np.concatenate(weights, axis=1)),
        ("qkv_weight_scale", scale),
        ("qkv_bias", np.concatenate(biases)),
    ):
        name = _fresh(f"{prefix}.{suffix}", taken)
        graph.initializer.append(numpy_helper.from_array(np.array(array, order="C"), name))
        names.append(name)
    return names


def _fresh(name: str, taken: set[str]) -> str:
    """`name`, or `name` with the first free numeric suffix, so no tensor is shadowed."""
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}.{n}"
    taken.add(candidate)
    return candidate


def _input(node: onnx.NodeProto, slot: int) -> str:
    return node.input[slot] if len(node.input) > slot else ""
