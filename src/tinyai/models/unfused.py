"""torch's own attention layers, rebuilt from ordinary nn.Linear projections.

`nn.MultiheadAttention` keeps its input projections as one bare parameter
(``in_proj_weight``) that it multiplies in C++, and in eval mode `nn.TransformerEncoderLayer`
hands all of its weights to one fused kernel that reads ``linear1.weight`` and friends
directly. A technique that replaces a Linear (quantization) breaks that kernel ("object has
no attribute 'weight'") and cannot reach ``in_proj_weight`` at all. `unfuse_attention`
swaps each of them for `Attention` / `EncoderLayer`: the same computation, the same
weights, with every projection an nn.Linear that quantization, pruning and the ONNX
exporter treat like any other.

The swap is recorded in a model directory (record type ``unfused-attention``, registered
here, phase LAYERS, ranked before the quantized layers that then replace its Linears):
loading a user-written module into a fresh instance unfuses exactly the recorded paths
again, with the same functions `unfuse_attention` uses.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.models.dir.records import LAYERS, RecordType, register_record_type

_M = TypeVar("_M", bound=nn.Module)


class Attention(nn.Module):
    """nn.MultiheadAttention's computation with nn.Linear projections.

    packed: one ``in_proj`` Linear (E -> 3E, exactly ``in_proj_weight``) for self-attention,
    where query, key and value are one tensor (a transformer encoder layer); otherwise
    ``q_proj`` / ``k_proj`` / ``v_proj``, which also serve cross-attention.
    """

    def __init__(self, mha: nn.MultiheadAttention, packed: bool) -> None:
        super().__init__()
        if mha.bias_k is not None or mha.add_zero_attn:
            raise NotImplementedError("add_bias_kv / add_zero_attn attention")
        self.embed_dim, self.num_heads = mha.embed_dim, mha.num_heads
        self.batch_first, self.dropout, self.packed = mha.batch_first, mha.dropout, packed
        if mha._qkv_same_embed_dim:
            weights = mha.in_proj_weight.chunk(3)
        else:
            weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
        biases = (None,) * 3 if mha.in_proj_bias is None else mha.in_proj_bias.chunk(3)
        if packed:
            self.in_proj = _linear(torch.cat(weights), mha.in_proj_bias)
        else:
            self.q_proj, self.k_proj, self.v_proj = (
                _linear(w, b) for w, b in zip(weights, biases, strict=True))
        self.out_proj = _linear(mha.out_proj.weight, mha.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        if self.packed and (key is not query or value is not query):
            raise ValueError("a packed Attention is self-attention: pass one tensor as query, "
                             "key and value")
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if not self.batch_first or unbatched:  # [L, N, E] -> [N, L, E]
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        q, k, v = self._project(query, key, value)
        heads = self.num_heads
        n, length, _ = q.shape
        split = lambda t: t.reshape(n, t.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)
        mask = _additive_mask(attn_mask, key_padding_mask, is_causal, n, heads, length,
                              k.shape[2], scores.dtype)
        weights = torch.softmax(scores if mask is None else scores + mask, dim=-1)
        weights = F.dropout(weights, self.dropout, self.training)
        out = self.out_proj((weights @ v).transpose(1, 2).reshape(n, length, self.embed_dim))
        if not self.batch_first or unbatched:
            out = out.transpose(0, 1)
        out = out.squeeze(1) if unbatched else out
        if not need_weights:
            return out, None
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return out, weights.squeeze(0) if unbatched else weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        if self.packed:  # one tensor (checked in forward)
            return tuple(self.in_proj(query).chunk(3, dim=-1))
        return self.q_proj(query), self.k_proj(key), self.v_proj(value)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, packed={self.packed}"


def _additive_mask(attn_mask: Tensor | None, key_padding_mask: Tensor | None,
                   is_causal: bool, n: int, heads: int, length: int, source: int,
                   dtype: torch.dtype) -> Tensor | None:
    """One float mask [N or 1, heads or 1, L, S] to add to the scores (True: masked out)."""
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(length, source, dtype=torch.bool).triu(1)
    total = None
    if attn_mask is not None:
        mask = _as_float(attn_mask, dtype)
        total = mask.reshape(n, heads, length, source) if mask.dim() == 3 else mask
    if key_padding_mask is not None:
        pad = _as_float(key_padding_mask, dtype).reshape(n, 1, 1, source)
        total = pad if total is None else total + pad
    return total


def _as_float(mask: Tensor, dtype: torch.dtype) -> Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(mask, -math.inf)
    return mask.to(dtype)


class EncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer without the fused fast path: the same submodules, run one
    by one (what torch itself runs while training), so replaced Linears keep working."""

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


def _linear(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    out_features, in_features = weight.shape
    linear = nn.Linear(in_features, out_features, bias=bias is not None,
                       device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    linear.weight.requires_grad_(weight.requires_grad)
    return linear


def unfuse_attention(model: nn.Module) -> list[str]:
    """Replace, in place, every nn.MultiheadAttention by an `Attention` and every
    nn.TransformerEncoderLayer by an `EncoderLayer`; returns the names of the replaced
    attention modules. Attention with add_bias_kv or add_zero_attn is left as it is."""
    replaced = []
    _no_nested_tensors(model)
    for name, module in list(model.named_modules()):
        if type(module) is nn.TransformerEncoderLayer:
            _unfuse_encoder_layer(model, name)
        elif isinstance(module, nn.MultiheadAttention):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            try:  # self_attn of an encoder layer (unfused above: parents come first)
                _unfuse_attention_at(model, name, isinstance(parent, EncoderLayer)
                                     and child == "self_attn")
            except NotImplementedError:
                continue
            replaced.append(name)
    return replaced


def _no_nested_tensors(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.TransformerEncoder):
            module.use_nested_tensor = False  # its sparse fast path reads the layers' weights


def _unfuse_encoder_layer(model: nn.Module, name: str) -> None:
    """The encoder layer at `name` as an `EncoderLayer`: same state, only forward differs."""
    layer = model.get_submodule(name)
    if not isinstance(layer, nn.TransformerEncoderLayer):
        raise TypeError(f"{name!r} is a {type(layer).__name__}, not a TransformerEncoderLayer")
    model.set_submodule(name, _renewed(layer, EncoderLayer))


def _unfuse_attention_at(model: nn.Module, name: str, packed: bool) -> None:
    """The attention at `name` as an `Attention` (one already unfused: a new object around
    the same state, as `_renewed` says why)."""
    module = model.get_submodule(name)
    if isinstance(module, Attention):
        if module.packed != packed:
            raise ValueError(f"{name!r} is unfused with packed={module.packed}, not {packed}")
        model.set_submodule(name, _renewed(module, Attention))
    elif isinstance(module, nn.MultiheadAttention):
        model.set_submodule(name, Attention(module, packed=packed))
    else:
        raise TypeError(f"{name!r} is a {type(module).__name__}, not a MultiheadAttention")


def _renewed(module: nn.Module, cls: type[_M]) -> _M:
    """A new `cls` object holding `module`'s own parameters, buffers, submodules, hooks and
    settings. New, not `module` with its class changed, so that replaying the record on a
    model already unfused (the copy save_model rebuilds to check it) visibly rebuilds it."""
    renewed = cls.__new__(cls)
    renewed.__dict__.update({key: value.copy() if isinstance(value, dict | set) else value
                             for key, value in module.__dict__.items()})
    return renewed


def _capture(model: nn.Module) -> list[dict[str, Any]]:
    attention = [{"name": name, "packed": module.packed}
                 for name, module in model.named_modules() if isinstance(module, Attention)]
    layers = [name for name, module in model.named_modules()
              if isinstance(module, EncoderLayer)]
    return [{"attention": attention, "encoder_layers": layers}] if attention or layers else []


def _replay(model: nn.Module, record: dict[str, Any]) -> None:
    _no_nested_tensors(model)
    for name in record["encoder_layers"]:  # first: they hold the packed self-attention
        _unfuse_encoder_layer(model, str(name))
    for entry in record["attention"]:
        _unfuse_attention_at(model, str(entry["name"]), bool(entry["packed"]))


# LAYERS, not BASE: a pruning plan (BASE) refers to the fused layers it pruned, and a BASE
# record the instance loaded into already carries is skipped, which would leave save_model's
# check copy unreplayed. Ranked first: the quantized-layers record replaces the Linears that
# unfusing makes.
register_record_type(RecordType("unfused-attention", LAYERS, _capture, _replay, rank=-1))
