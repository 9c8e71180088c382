"""Quantization-aware training: fake-quant Linear and Conv2d layers trained with a
straight-through estimator, converted afterwards to exactly the modules PTQ produces (so
export is shared).

Weights are fake-quantized with the same grid `convert` will use (symmetric int8 per output
channel, or per tensor where `per_tensor_tolerance` allows; group-wise min-max low-bit without
clip search), so what was trained is what is deployed.

Convs (int8 only): `prepare` folds BatchNorm into the convs first, exactly as static PTQ
does (`ptq.quantizable_convs`), and takes a following ReLU into the layer; the fake-quant conv
then trains the folded weights. Folding before QAT (rather than simulating the fold with
batch statistics) means the network trains without BatchNorm, which a short fine-tune of a
trained model tolerates well, and the trained layer is bit for bit the deployed one. Each conv
fake-quantizes its input and its (post-ReLU) output, because `QuantizedConv2d` / ORT's
QLinearConv quantize both; those ranges are always observed (EMA), also when Linears learn
theirs (see `FakeQuantConv2d`), and a conv reading another conv's output (directly or
through max-pooling) shares that conv's output range as its input range, so the export's
back-to-back QDQ pairs are identical (see `_tie_chained_convs`). Conv weights have no
low-bit deployable form (MatMulNBits is a GEMM), so with bits 4/2 convs stay float, as with
`WeightOnly`; so do they with activations="none", since QLinearConv needs static activation
parameters.

Works with any training loop, including `tinyai.distill` (quantized student, float teacher):
the prepared model is an ordinary nn.Module. Build the optimizer after `prepare`: folding
BatchNorm gives the convs new weight tensors.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.errors import ConfigError
from tinyai.quantize.config import QAT
from tinyai.quantize.modules import LowBitLinear, QuantizedConv2d, QuantizedLinear
from tinyai.quantize.primitives import (
    affine_qparams,
    int8_weight_qmax,
    ste_fake_quantize,
    use_per_channel,
    weight_scale_int8,
)
from tinyai.quantize.ptq import (
    quantizable_convs,
    quantize_embeddings,
    require_prepared,
    selected,
    set_submodule,
)


def _fake_quant_int8(w: Tensor, per_channel: bool, qmax: int) -> Tensor:
    """Symmetric int8 fake-quant of a [out, ...] weight on the grid `quantize_weight_int8` uses."""
    scale = weight_scale_int8(w, per_channel, qmax=qmax).reshape(-1, *([1] * (w.dim() - 1)))
    return ste_fake_quantize(w, scale, 0.0, -qmax, qmax)


def _fake_quant_groupwise(w: Tensor, bits: int, group_size: int) -> Tensor:
    rows, cols = w.shape
    g = w.reshape(rows, cols // group_size, group_size)
    lo = torch.clamp(g.detach().amin(-1, keepdim=True), max=0.0)
    hi = torch.clamp(g.detach().amax(-1, keepdim=True), min=0.0)
    qmax = (1 << bits) - 1
    scale = torch.clamp((hi - lo) / qmax, min=1e-12)
    zp = torch.clamp(torch.round(-lo / scale), 0, qmax)
    return ste_fake_quantize(g, scale, zp, 0, qmax).reshape(rows, cols)


class ActivationRange(nn.Module):
    """One activation tensor's uint8 grid during QAT: an EMA of its min/max ("running"), or
    an LSQ step size learned with the weights ("learned"); "none" passes it through."""

    def __init__(self, mode: str, ema: float) -> None:
        super().__init__()
        self.mode, self.ema = mode, ema
        self.register_buffer("act_lo", torch.tensor(0.0))
        self.register_buffer("act_hi", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.act_scale = nn.Parameter(torch.tensor(1.0)) if mode == "learned" else None

    def _observe(self, x: Tensor) -> None:
        lo, hi = x.detach().min().clamp(max=0.0), x.detach().max().clamp(min=0.0)
        if not bool(self.initialized):
            self.act_lo.copy_(lo)
            self.act_hi.copy_(hi)
            self.initialized.fill_(True)
            if self.act_scale is not None:
                self.act_scale.data.fill_(float((hi - lo) / 255.0) or 1e-3)
        else:
            self.act_lo.mul_(self.ema).add_((1 - self.ema) * lo)
            self.act_hi.mul_(self.ema).add_((1 - self.ema) * hi)

    def qparams(self) -> tuple[float, int, bool]:
        """(scale, zero_point, signed) as the converted modules take them."""
        if self.act_scale is not None:
            scale = float(self.act_scale.detach().abs().clamp(min=1e-8))
            zp = int(torch.clamp(torch.round(-self.act_lo / scale), 0, 255))
            return scale, zp, False
        scale, zp, _, _ = affine_qparams(float(self.act_lo), float(self.act_hi), 8, False)
        return scale, zp, False

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "none":
            return x
        if self.training or not bool(self.initialized):
            self._observe(x)
        scale_f, zp, _ = self.qparams()
        # The learned scale must stay in the graph so it gets a gradient.
        scale = self.act_scale.abs().clamp(min=1e-8) if self.act_scale is not None else scale_f
        return ste_fake_quantize(x, torch.as_tensor(scale), float(zp), 0, 255)


class FakeQuantLinear(ActivationRange):
    """QAT of an nn.Linear. It is its own input range (rather than holding one) so its
    state-dict keys stay those of QAT checkpoints saved before convs were supported."""

    def __init__(self, linear: nn.Linear, config: QAT) -> None:
        activations = config.activations if config.bits == 8 else "none"
        super().__init__(activations, config.ema)
        self.weight = linear.weight
        self.bias = linear.bias
        self.bits, self.group_size = config.bits, config.group_size
        # Decided once from the starting weights, so training sees the grid convert will use.
        tolerance = config.per_tensor_tolerance if config.bits == 8 else 0.0
        self.weight_qmax = int8_weight_qmax(config.full_range_weights)
        self.per_channel = use_per_channel(linear.weight, True, tolerance,
                                           qmax=self.weight_qmax)

    def input_qparams(self) -> tuple[float, int, bool]:
        return self.qparams()

    def forward(self, x: Tensor) -> Tensor:
        if self.bits == 8:
            w = _fake_quant_int8(self.weight, self.per_channel, self.weight_qmax)
        else:
            w = _fake_quant_groupwise(self.weight, self.bits, self.group_size)
        return F.linear(super().forward(x), w, self.bias)

    def to_quantized(self) -> nn.Module:
        if self.bits == 8:
            qparams = self.input_qparams() if self.mode != "none" else None
            return QuantizedLinear(self.weight, self.bias, self.per_channel, qparams,
                                   self.weight_qmax)
        return LowBitLinear(self.weight, self.bias, self.bits, self.group_size, clip_search=False)


class FakeQuantConv2d(nn.Module):
    """int8 QAT of a (BatchNorm-folded) Conv2d, grouped / depthwise included: per-channel
    weights, fake-quantized input and output, optional fused ReLU; converts to QuantizedConv2d."""

    def __init__(self, conv: nn.Conv2d, config: QAT, relu: bool) -> None:
        super().__init__()
        self.conv = conv
        self.relu = relu
        # Observed ranges even when config.activations == "learned": ORT collapses the
        # back-to-back output QDQ of one conv and input QDQ of the next into one pair (keeping
        # one pair's parameters), so those must agree. Observed ranges of the same tensor do,
        # as in PTQ; independently learned LSQ scales drift apart (measured: 7x on FashionCNN),
        # which breaks both the QLinearConv fusion and PyTorch/ORT parity.
        self.input_range = ActivationRange("running", config.ema)
        self.output_range = ActivationRange("running", config.ema)
        self.input_tied = False  # set by _tie_chained_convs
        self.weight_qmax = int8_weight_qmax(config.full_range_weights)
        # fuse_conv_bn_eval creates the bias of a bias-free conv with requires_grad=False, but
        # it now holds BatchNorm's shift, which must keep training.
        if conv.bias is not None:
            conv.bias.requires_grad_(True)

    def forward(self, x: Tensor) -> Tensor:
        w = _fake_quant_int8(self.conv.weight, True, self.weight_qmax)
        # A tied input is already on its producer's grid (the range is that producer's).
        x = x if self.input_tied else self.input_range(x)
        y = self.conv._conv_forward(x, w, self.conv.bias)
        return self.output_range(F.relu(y) if self.relu else y)

    def to_quantized(self) -> nn.Module:
        qin, qout = self.input_range.qparams(), self.output_range.qparams()
        return QuantizedConv2d(self.conv, True, qin, qout, self.relu, self.weight_qmax)


def _conv_inputs(model: nn.Module) -> dict[str, str]:
    """{conv: the conv whose output it reads} over FakeQuantConv2d pairs linked only through
    max-pools / Identity / dropout, from an FX trace; {} (with a warning) when the model does
    not trace (data-dependent Python control flow)."""
    from torch import fx

    if sum(isinstance(m, FakeQuantConv2d) for m in model.modules()) < 2:
        return {}  # nothing to link; and tracing a large conv-free model is wasted work

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            fake = isinstance(m, FakeQuantConv2d | FakeQuantLinear)
            return fake or super().is_leaf_module(m, qualname)

    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # no tying: each conv keeps its own range
        warnings.warn(
            f"QAT could not trace the model ({type(exc).__name__}), so chained convs keep "
            "separate ranges and the ONNX Runtime model may differ slightly from PyTorch",
            stacklevel=3,
        )
        return {}
    mods = dict(model.named_modules())

    def module(node: object) -> nn.Module | None:
        is_call = isinstance(node, fx.Node) and node.op == "call_module"
        return mods[node.target] if is_call else None  # type: ignore[union-attr,index]

    links = {}
    for node in graph.nodes:
        if not isinstance(module(node), FakeQuantConv2d):
            continue
        src = node.args[0]
        # Layers that keep values on the producer's grid or vanish at export (dropout).
        while isinstance(module(src), nn.MaxPool2d | nn.Identity | nn.Dropout | nn.Dropout2d):
            src = src.args[0]  # type: ignore[union-attr]
        if isinstance(module(src), FakeQuantConv2d):
            links[str(node.target)] = str(src.target)  # type: ignore[union-attr]
    return links


def _tie_chained_convs(model: nn.Module) -> None:
    """Give a conv that reads another conv's output that conv's output range as its input
    range. Exported, the two QDQ pairs meet back to back and ORT collapses them into one,
    keeping one pair's parameters: unless they are identical, ORT would compute something
    other than the PyTorch model (separately observed ranges differ by the EMA's lag)."""
    for consumer, producer in _conv_inputs(model).items():
        conv = model.get_submodule(consumer)
        conv.input_range = model.get_submodule(producer).output_range
        conv.input_tied = True


def _prepare(model: nn.Module, config: QAT) -> nn.Module:
    # Convs first: their BatchNorm fold and ReLU fusion edit the Sequentials they sit in.
    if config.bits == 8 and config.activations != "none":
        for name, conv, relu in list(quantizable_convs(model, config)):
            set_submodule(model, name, FakeQuantConv2d(conv, config, relu))
        _tie_chained_convs(model)
    for name, lin in selected(model, config, (nn.Linear,)):
        if type(lin) is nn.Linear and (
            config.bits == 8 or lin.in_features % config.group_size == 0
        ):
            set_submodule(model, name, FakeQuantLinear(lin, config))
    require_prepared(model, config, (FakeQuantLinear, FakeQuantConv2d))
    return model


def quantize_qat(model: nn.Module, config: QAT) -> nn.Module:
    if config.step == "prepare":
        return _prepare(model, config)
    fake = (FakeQuantLinear, FakeQuantConv2d)
    prepared = [(n, m) for n, m in model.named_modules() if isinstance(m, fake)]
    if not prepared:
        raise ConfigError(
            "QAT(step='convert') found no fake-quant layers; run QAT(step='prepare') first"
        )
    qmax = int8_weight_qmax(config.full_range_weights)
    if any(fq.weight_qmax != qmax for _, fq in prepared if getattr(fq, "bits", 8) == 8):
        raise ConfigError(
            f"QAT was prepared with full_range_weights={not config.full_range_weights}; convert "
            "with the same full_range_weights, or the deployed weights are not the ones trained")
    for name, fq in prepared:
        set_submodule(model, name, fq.to_quantized())
    quantize_embeddings(model, config)
    return model
