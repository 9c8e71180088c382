"""Post-training quantization handlers: dynamic int8, static int8 (prepare/convert), low-bit
weight-only and per-layer mixed precision. Each is `handler(model, config) -> model` (in place).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from torch import nn

from tinyai.errors import ConfigError
from tinyai.models.ties import tied_modules
from tinyai.quantize.config import Int8Dynamic, Int8Static, MixedPrecision, QuantConfig, WeightOnly
from tinyai.quantize.modules import (
    LowBitLinear,
    ObservedConv2d,
    ObservedLinear,
    QuantizedConv2d,
    QuantizedEmbedding,
    QuantizedLinear,
)
from tinyai.quantize.observers import make_observer
from tinyai.quantize.primitives import affine_qparams, int8_weight_qmax, use_per_channel
from tinyai.quantize.weight_int8 import Int8WeightConv, Int8WeightRNN

MIN_EMBEDDING_ROWS = 1024


def selected(
    model: nn.Module, config: QuantConfig, types: tuple[type, ...]
) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of each module of `types` that the include/exclude patterns select.

    A module whose weight is tied to another module's is never selected: converting one use
    would store a second copy (`tinyai.quantize.coverage` says so)."""
    tied = tied_modules(model)
    for name, module in list(model.named_modules()):
        if not isinstance(module, types) or not name or name in tied:
            continue
        if not any(fnmatch.fnmatchcase(name, p) for p in config.include):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in config.exclude):
            continue
        yield name, module


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _float_linears(model: nn.Module, config: QuantConfig) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in selected(model, config, (nn.Linear,)) if type(m) is nn.Linear]


def _per_channel(lin: nn.Linear, config: Int8Dynamic | Int8Static, qmax: int) -> bool:
    return use_per_channel(lin.weight, config.per_channel, config.per_tensor_tolerance,
                           qmax=qmax)


def quantize_dynamic_int8(model: nn.Module, config: Int8Dynamic) -> nn.Module:
    qmax = int8_weight_qmax(config.full_range_weights)
    for name, lin in _float_linears(model, config):
        new = QuantizedLinear(lin.weight, lin.bias, _per_channel(lin, config, qmax), None, qmax)
        set_submodule(model, name, new)
    int8_weight_convs(model, config)
    int8_weight_rnns(model, config)
    quantize_embeddings(model, config)
    return model


def int8_weight_rnns(model: nn.Module, config: QuantConfig) -> None:
    """Every selected unidirectional GRU / LSTM without projection as `Int8WeightRNN`."""
    for name, rnn in selected(model, config, (nn.GRU, nn.LSTM)):
        plain = type(rnn) in (nn.GRU, nn.LSTM) and not rnn.bidirectional
        if plain and not getattr(rnn, "proj_size", 0):
            set_submodule(model, name, Int8WeightRNN(rnn))


def int8_weight_convs(model: nn.Module, config: QuantConfig) -> None:
    """Every selected Conv1d / Conv2d (zero padding) with int8 weights (`Int8WeightConv`),
    BatchNorm folded in first (as static int8 does: the exported conv is the folded one)."""
    from tinyai.quantize.cluster import fold_batchnorm

    fold_batchnorm(model)
    for name, conv in selected(model, config, (nn.Conv1d, nn.Conv2d)):
        plain = type(conv) in (nn.Conv1d, nn.Conv2d) and conv.padding_mode == "zeros"
        if plain and not isinstance(conv.padding, str):
            set_submodule(model, name, Int8WeightConv(conv))


def quantize_static_int8(model: nn.Module, config: Int8Static) -> nn.Module:
    if config.step == "prepare":
        _prepare_convs(model, config)
        for name, lin in _float_linears(model, config):
            observer = make_observer(config.observer, config.percentile, config.bins)
            set_submodule(model, name, ObservedLinear(lin, observer))
        require_prepared(model, config, (ObservedLinear, ObservedConv2d))
        return model
    observed = [
        (n, m) for n, m in model.named_modules() if isinstance(m, ObservedLinear | ObservedConv2d)
    ]
    if not observed:
        raise ConfigError(
            "Int8Static(step='convert') found no observed layers; run step='prepare' first"
        )
    qmax = int8_weight_qmax(config.full_range_weights)
    for name, obs in observed:
        if isinstance(obs, ObservedConv2d):
            qin = _qparams(name, obs.input_observer, config)
            qout = _qparams(name, obs.output_observer, config)
            new: nn.Module = QuantizedConv2d(obs.conv, config.per_channel, qin, qout, obs.relu,
                                             qmax)
        else:
            qparams = _qparams(name, obs.observer, config)
            lin = obs.linear
            per_channel = _per_channel(lin, config, qmax)
            new = QuantizedLinear(lin.weight, lin.bias, per_channel, qparams, qmax)
        set_submodule(model, name, new)
    quantize_embeddings(model, config)
    return model


def require_prepared(model: nn.Module, config: QuantConfig, types: tuple[type, ...]) -> None:
    """A two-step scheme that found nothing to prepare says so now, with the reasons, rather
    than at convert ("no observed layers") after calibrating or training for nothing."""
    if any(isinstance(m, types) for m in model.modules()):
        return
    from tinyai.quantize.coverage import float_layers

    reasons = "; ".join(f"{n} ({r})" for n, r in list(float_layers(model, config).items())[:4])
    raise ConfigError(f"{type(config).__name__} has no layer to quantize in "
                      f"{type(model).__name__}: {reasons or 'no Linear or Conv2d selected'}")


def _qparams(name: str, observer: object, config: Int8Static) -> tuple[float, int, bool]:
    if not observer.seen:  # type: ignore[attr-defined]
        raise ConfigError(
            f"layer {name} saw no calibration data; run calibration batches through the "
            "model between step='prepare' and step='convert'"
        )
    sym = config.symmetric_activations
    lo, hi = observer.range(8, sym)  # type: ignore[attr-defined]
    scale, zp, _, _ = affine_qparams(lo, hi, 8, sym)
    return scale, zp, sym


def _prepare_convs(model: nn.Module, config: Int8Static) -> None:
    make = lambda: make_observer(config.observer, config.percentile, config.bins)  # noqa: E731
    for name, conv, relu in quantizable_convs(model, config):
        set_submodule(model, name, ObservedConv2d(conv, make(), make(), relu))


def quantizable_convs(
    model: nn.Module, config: QuantConfig
) -> Iterator[tuple[str, nn.Conv2d, bool]]:
    """Fold BatchNorm into every conv it follows (so no float BN follows an int8 conv in the
    export; convs left out by include/exclude are folded too, which keeps their function), then
    yield (name, conv, relu) for each selected Conv2d QLinearConv can run; relu=True when a
    directly following ReLU was taken into the layer (and replaced by Identity).
    Shared by static PTQ and QAT so both deploy the same folded, fused layers."""
    from tinyai.quantize.cluster import fold_batchnorm

    fold_batchnorm(model)
    for name, conv in selected(model, config, (nn.Conv2d,)):
        if type(conv) is not nn.Conv2d or not _int_padding(conv):
            continue  # "same"/reflect padding: stays float rather than a wrong QLinearConv
        yield name, conv, _absorb_following_relu(model, name)


def _int_padding(conv: nn.Conv2d) -> bool:
    return conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


def _absorb_following_relu(model: nn.Module, name: str) -> bool:
    """Replace the ReLU after `name` in its Sequential (folded BNs in between are Identity)
    by Identity and return True: the quantized conv applies it before quantizing its output,
    so the output range starts at 0 and ORT fuses Conv+Relu into one QLinearConv."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential) or not child.isdigit():
        return False
    for i in range(int(child) + 1, len(parent)):
        if isinstance(parent[i], nn.Identity):
            continue
        if type(parent[i]) is nn.ReLU:
            parent[i] = nn.Identity()
            return True
        return False
    return False


def _lowbit_or_skip(lin: nn.Linear, bits: int, group_size: int, **kw: bool) -> nn.Module:
    # A layer whose width is not a multiple of the group (e.g. a 2-way classifier head is fine,
    # a 10-input layer is not) stays float: MatMulNBits needs whole groups along K.
    if lin.in_features % group_size:
        return lin
    return LowBitLinear(lin.weight, lin.bias, bits, group_size, **kw)


def quantize_embeddings(model: nn.Module, config: QuantConfig) -> None:
    """Embedding tables as `config.embedding_bits` group-wise codes (no-op when 0)."""
    if not config.embedding_bits:
        return
    # Small tables (positions, token types) are a rounding error in size, and the exporter
    # often folds their lookups into constants, which would leave nothing to rewrite.
    for name, emb in selected(model, config, (nn.Embedding,)):
        if type(emb) is not nn.Embedding or emb.num_embeddings < MIN_EMBEDDING_ROWS:
            continue
        group = _fitting_group(emb.embedding_dim, config.embedding_group_size)
        if group:
            new = QuantizedEmbedding(emb.weight, config.embedding_bits, group, emb.padding_idx)
            set_submodule(model, name, new)


def _fitting_group(width: int, group_size: int) -> int:
    """The largest power-of-two group <= group_size (and >= 16) dividing width; 0 if none."""
    while group_size > 16 and width % group_size:
        group_size //= 2
    return group_size if width % group_size == 0 else 0


def quantize_weight_only(model: nn.Module, config: WeightOnly) -> nn.Module:
    for name, lin in _float_linears(model, config):
        new = _lowbit_or_skip(
            lin,
            config.bits,
            config.group_size,
            symmetric=config.symmetric,
            clip_search=config.clip_search,
        )
        set_submodule(model, name, new)
    if config.bits == 8:
        int8_weight_convs(model, config)
        int8_weight_rnns(model, config)
    quantize_embeddings(model, config)
    return model


def quantize_mixed(model: nn.Module, config: MixedPrecision) -> nn.Module:
    for name, lin in _float_linears(model, config):
        bits = config.layer_bits.get(name, config.default_bits)
        if bits != 32:
            set_submodule(model, name, _lowbit_or_skip(lin, bits, config.group_size))
    quantize_embeddings(model, config)
    return model
