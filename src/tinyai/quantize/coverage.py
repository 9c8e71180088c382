"""What a quantization scheme left in float, and why: said in a warning and on the layer.

After `quantize_` converts a model, every layer that holds float weights a scheme could have
quantized is listed with the reason it stayed float (a tied weight, a width that is not a
multiple of the group size, a layer type ONNX Runtime has no integer kernel for, ...). The
reason is kept on the module (`FLOAT_REASON`), where `tinyai.summary` shows it (a row's
``note``), and one
warning names them all with the share of the weights they hold: a conv net that int4 leaves
in float is not "4x smaller" without a word.
"""

from __future__ import annotations

import fnmatch
import warnings

from torch import nn

from tinyai.measure.summary import FLOAT_REASON, logical_weight_count
from tinyai.models.ties import tied_modules
from tinyai.quantize.config import QAT, Int8Static, QuantConfig, WeightOnly

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                  nn.ConvTranspose2d, nn.Embedding, nn.RNNBase, nn.MultiheadAttention)
_SHOWN = 6


def float_layers(model: nn.Module, config: QuantConfig) -> dict[str, str]:
    """{module name: why it stayed float} for the selected weight layers still in float."""
    tied = tied_modules(model)
    out = {}
    for name, module in model.named_modules():
        if not name or not isinstance(module, _WEIGHT_LAYERS) or not _selected(name, config):
            continue
        reason = f"its weight is tied to {tied[name]}; kept float so it stays one tensor" \
            if name in tied else _reason(module, config)
        out[name] = reason
    return out


def report_float_layers(model: nn.Module, config: QuantConfig) -> dict[str, str]:
    """Mark every layer `float_layers` finds and warn once; returns them."""
    found = float_layers(model, config)
    for name, reason in found.items():
        setattr(model.get_submodule(name), FLOAT_REASON, reason)
    if found:
        total = sum(p.numel() for p in model.parameters()) + sum(
            logical_weight_count(m) or 0 for m in model.modules()) or 1
        kept_params = {id(p): p for n in found for p in model.get_submodule(n).parameters()}
        kept = sum(p.numel() for p in kept_params.values())
        listed = "; ".join(f"{n} ({r})" for n, r in list(found.items())[:_SHOWN])
        more = f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        warnings.warn(f"{type(config).__name__}: {len(found)} layers kept float, "
                      f"{kept / total:.0%} of the weights: {listed}{more}", stacklevel=5)
    return found


def _selected(name: str, config: QuantConfig) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in config.include) and not any(
        fnmatch.fnmatchcase(name, p) for p in config.exclude)


def _reason(module: nn.Module, config: QuantConfig) -> str:
    kind = type(module).__name__
    if isinstance(module, nn.Embedding):
        if not config.embedding_bits:
            return "embedding_bits=0 keeps embeddings float"
        from tinyai.quantize.ptq import MIN_EMBEDDING_ROWS

        return (f"a small table ({module.num_embeddings} rows < {MIN_EMBEDDING_ROWS}), whose "
                "lookups the exporter folds into constants")
    if isinstance(module, nn.RNNBase):
        if module.bidirectional or getattr(module, "proj_size", 0) or type(module) is nn.RNN:
            return f"a bidirectional, projected or plain {kind} has no int8 form in tinyai"
        return (f"{type(config).__name__} keeps recurrent weights float; Int8Dynamic and "
                "WeightOnly(bits=8) store them as int8")
    if isinstance(module, nn.MultiheadAttention):
        return "attention with add_bias_kv / add_zero_attn has no unfused form"
    if type(module) not in (nn.Linear, nn.Conv1d, nn.Conv2d):
        return f"{kind} has no quantized form in tinyai"
    low_bits = isinstance(config, WeightOnly | QAT) and config.bits < 8
    if isinstance(module, nn.Linear) and low_bits:
        return (f"in_features {module.in_features} is not a multiple of group_size "
                f"{config.group_size} (MatMulNBits needs whole groups)")
    if low_bits:
        return f"no {config.bits}-bit convolution kernel in ONNX Runtime"
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        return f"padding {module.padding_mode}/{module.padding!r} has no quantized conv here"
    if isinstance(config, Int8Static | QAT) and isinstance(module, nn.Conv1d):
        return "static int8 covers Conv2d (QLinearConv); Int8Dynamic stores Conv1d as int8"
    if isinstance(config, QAT) and config.activations == "none":
        return "activations='none': QLinearConv needs static activation ranges"
    return f"not converted by {type(config).__name__}"
