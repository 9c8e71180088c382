"""Attention that ONNX Runtime runs as one kernel: SDPA -> ``com.microsoft::MultiHeadAttention``.

The stock dynamo export decomposes ``torch.nn.functional.scaled_dot_product_attention`` (what
Hugging Face BERT-style encoders call with ``attn_implementation="sdpa"``) into ~15 small
nodes per layer (MatMul, Mul, Where, Softmax, IsNaN, ...), which dominate batch-1 latency once
the projections run as int8 GEMMs. This module registers a translation of
``aten.scaled_dot_product_attention`` to ORT's fused ``MultiHeadAttention`` contrib op (CPU
kernel in onnxruntime >= 1.14), so the attention core (scores, mask, softmax, context) is one
node. The Q/K/V and output projections stay plain MatMuls, which is what lets the int8/int4
rewrite in `tinyai.quantize.onnx_pass` replace them.

The mask becomes ``key_padding_mask`` when it is a boolean ``[B, 1, 1, T]`` (which keys are
padding; `tinyai.export.hf_attention` makes HF encoders pass that), else ``attention_bias``.
Calls the fused op cannot express exactly (dropout, ``is_causal``, grouped-query heads,
symbolic head counts, masks other than those two shapes or ``[B|1, H|1, S, T]``) keep the
stock decomposition.
Importing this module registers the translation (`tinyai.export.extensions` does so on first
use of the translation table).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from onnx.defs import OpSchema
from onnxscript import ir
from onnxscript import opset18 as op
from onnxscript.function_libs.torch_lib.ops.nn import aten_scaled_dot_product_attention
from onnxscript.values import Op, Opset

from tinyai.export.extensions import register_onnx_translation
from tinyai.export.round_trips import same_dim

MS_DOMAIN = "com.microsoft"
# What a masked-out position adds to its score: the most negative finite value, as Hugging Face's
# own masks use, so a row with every key masked gets a uniform softmax instead of NaN.
_MASKED = {
    ir.DataType.FLOAT: float(np.finfo(np.float32).min),
    ir.DataType.FLOAT16: float(np.finfo(np.float16).min),
}
_BSNH_TO_BNSH = [0, 2, 1, 3]  # the same permutation both ways
_enabled = True


def fusion_enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def unfused() -> Iterator[None]:
    """Export attention as the stock exporter does (to measure what the fusion gains)."""
    global _enabled
    was, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = was


@functools.cache
def _multihead_attention() -> Op:
    """The contrib op with the inputs tinyai uses, as onnxscript needs a schema to record it.

    Signature from onnxruntime's own registry (``get_all_operator_schema()``, ORT 1.32):
    query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value, ... ->
    output, present_key, present_value, qk. onnx does not know com.microsoft ops, so the
    schema is written here rather than looked up.
    """
    param, optional = OpSchema.FormalParameter, OpSchema.FormalParameterOption.Optional
    inputs = [param("query", "T")] + [
        param(name, kind, param_option=optional)
        for name, kind in (
            ("key", "T"),
            ("value", "T"),
            ("bias", "T"),
            ("key_padding_mask", "M"),
            ("attention_bias", "T"),
        )
    ]
    schema = OpSchema(
        "MultiHeadAttention",
        MS_DOMAIN,
        1,
        inputs=inputs,
        outputs=[param("output", "T")],
        type_constraints=[
            ("T", ["tensor(float)", "tensor(float16)"], "activations"),
            ("M", ["tensor(int32)"], "key padding mask"),
        ],
        attributes=[
            OpSchema.Attribute("num_heads", OpSchema.AttrType.INT, required=True),
            OpSchema.Attribute("scale", OpSchema.AttrType.FLOAT, required=False),
            OpSchema.Attribute("mask_filter_value", OpSchema.AttrType.FLOAT, required=False),
        ],
    )
    return Op(Opset(MS_DOMAIN, 1), "MultiHeadAttention", schema)


def sdpa_to_multihead_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Translation of ``aten.scaled_dot_product_attention`` ([B, H, S, d] in and out)."""
    mask_kind = _mask_kind(query, key, attn_mask)
    fusable = _fusable(query, key, value, dropout_p, is_causal)
    if not _enabled or mask_kind is None or not fusable:
        return aten_scaled_dot_product_attention(
            query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa
        )
    heads, value_size = query.shape[1], value.shape[3]
    attrs: dict[str, Any] = {"num_heads": heads}
    if scale is not None:
        attrs["scale"] = float(scale)
    padding = _key_padding(attn_mask) if mask_kind == "key_padding" else None
    bias = _additive(attn_mask, query) if mask_kind == "bias" else None
    if padding is not None:  # masked scores get this added; the same as SDPA's -inf in fp32
        attrs["mask_filter_value"] = _MASKED[query.dtype]
    out = _multihead_attention()(
        _heads_merged(query),
        _heads_merged(key),
        _heads_merged(value),
        None,  # bias: the projections keep theirs (the int8 rewrite folds it into the GEMM)
        padding,
        bias,
        **attrs,
    )
    # onnx cannot infer a contrib op's shape; recorded, `tinyai.export.round_trips` can see
    # that the split into heads below and the caller's merge back cancel
    out.shape = ir.Shape([query.shape[0], query.shape[2], heads * value_size])
    out.dtype = query.dtype
    out = op.Reshape(out, op.Constant(value_ints=[0, 0, heads, value_size]))
    return op.Transpose(out, perm=_BSNH_TO_BNSH)


def _fusable(query: Any, key: Any, value: Any, dropout_p: float, is_causal: bool) -> bool:
    """Whether MultiHeadAttention computes exactly what this SDPA call does (mask aside)."""
    shapes = [t.shape for t in (query, key, value)]
    if dropout_p or is_causal or any(s is None or len(s) != 4 for s in shapes):
        return False
    if query.dtype not in _MASKED:
        return False
    q, k, v = shapes
    heads = q[1]
    # num_heads is an attribute, so the head count must be known; grouped-query attention
    # (fewer K/V heads) is not what MultiHeadAttention computes.
    if not isinstance(heads, int) or k[1] != heads or v[1] != heads:
        return False
    return isinstance(q[3], int) and k[3] == q[3] and isinstance(v[3], int)


def _mask_kind(query: Any, key: Any, attn_mask: Any) -> str | None:
    """How MultiHeadAttention takes `attn_mask`: "none", "key_padding", "bias", or None (it
    cannot: the mask broadcasts in a way ORT does not)."""
    if attn_mask is None:
        return "none"
    mask, q, k = attn_mask.shape, query.shape, key.shape
    if mask is None or len(mask) != 4 or q is None or k is None or not same_dim(mask[3], k[2]):
        return None
    # [B, 1, 1, T] of booleans: which keys are padding, the same for every head and query.
    if attn_mask.dtype == ir.DataType.BOOL and mask[1] == 1 and mask[2] == 1:
        return "key_padding" if same_dim(mask[0], q[0]) else None
    # attention_bias is [B or 1, H or 1, S, T]: ORT broadcasts batch and heads only.
    if mask[1] not in (1, q[1]) or not same_dim(mask[2], q[2]):
        return None
    return "bias"


def _heads_merged(x: Any) -> Any:
    """[B, H, S, d] -> [B, S, H*d], the layout MultiHeadAttention takes.

    When `x` is the usual ``linear(h).view(B, S, H, d).transpose(1, 2)``, the tensor before the
    view already is [B, S, H*d]: use it, and the exporter's clean-up drops the view and the
    transpose, rather than leaving a transpose and a reshape that undo them.
    """
    before_view = _unsplit_heads(x)
    if before_view is not None:
        return before_view
    merged = op.Transpose(x, perm=_BSNH_TO_BNSH)
    return op.Reshape(merged, op.Constant(value_ints=[0, 0, -1]))


def _unsplit_heads(x: Any) -> Any:
    transpose = x.producer()
    if transpose is None or transpose.op_type != "Transpose":
        return None
    perm = transpose.attributes.get("perm")
    if perm is None or list(perm.value) != _BSNH_TO_BNSH:
        return None
    split = transpose.inputs[0]
    reshape = split.producer() if split is not None else None
    if reshape is None or reshape.op_type != "Reshape":
        return None
    source = reshape.inputs[0]
    s, t = source.shape, split.shape
    if s is None or t is None or len(s) != 3 or len(t) != 4:
        return None
    b, n, h, d = t
    if not (isinstance(h, int) and isinstance(d, int) and s[2] == h * d):
        return None
    return source if same_dim(s[0], b) and same_dim(s[1], n) else None


def _key_padding(attn_mask: Any) -> Any:
    """[B, 1, 1, T] booleans (True = attend) -> MultiHeadAttention's int32 [B, T] (1 = attend)."""
    flat = op.Reshape(attn_mask, op.Constant(value_ints=[0, -1]))
    return op.Cast(flat, to=ir.DataType.INT32)


def _additive(attn_mask: Any, like: Any) -> Any:
    """SDPA's mask as the bias MultiHeadAttention adds to the scores (boolean: True = keep)."""
    if attn_mask is None:
        return None
    if attn_mask.dtype == ir.DataType.BOOL:
        keep = op.Constant(value_float=0.0)
        drop = op.Constant(value_float=_MASKED[like.dtype])
        return op.CastLike(op.Where(attn_mask, keep, drop), like)
    return attn_mask if attn_mask.dtype == like.dtype else op.CastLike(attn_mask, like)


register_onnx_translation(
    torch.ops.aten.scaled_dot_product_attention.default,
    sdpa_to_multihead_attention,
    required=False,
)
