"""Quantization-aware training: fake-quant Linear layers trained with a straight-through
estimator, converted afterwards to exactly the modules PTQ produces (so export is shared).

Weights are fake-quantized with the same grid `convert` will use (per-channel symmetric int8,
or group-wise min-max low-bit without clip search), so what was trained is what is deployed.
Works with any training loop, including `tinyai.distill` (quantized student, float teacher):
the prepared model is an ordinary nn.Module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.errors import ConfigError
from tinyai.quantize.config import QAT
from tinyai.quantize.modules import LowBitLinear, QuantizedLinear
from tinyai.quantize.primitives import affine_qparams, ste_fake_quantize
from tinyai.quantize.ptq import quantize_embeddings, selected, set_submodule


def _fake_quant_weight(w: Tensor, bits: int, group_size: int) -> Tensor:
    if bits == 8:
        scale = torch.clamp(w.detach().abs().amax(dim=1, keepdim=True) / 127.0, min=1e-12)
        return ste_fake_quantize(w, scale, 0.0, -127, 127)
    rows, cols = w.shape
    g = w.reshape(rows, cols // group_size, group_size)
    lo = torch.clamp(g.detach().amin(-1, keepdim=True), max=0.0)
    hi = torch.clamp(g.detach().amax(-1, keepdim=True), min=0.0)
    qmax = (1 << bits) - 1
    scale = torch.clamp((hi - lo) / qmax, min=1e-12)
    zp = torch.clamp(torch.round(-lo / scale), 0, qmax)
    return ste_fake_quantize(g, scale, zp, 0, qmax).reshape(rows, cols)


class FakeQuantLinear(nn.Module):
    def __init__(self, linear: nn.Linear, config: QAT) -> None:
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        self.bits, self.group_size = config.bits, config.group_size
        self.activations = config.activations if config.bits == 8 else "none"
        self.ema = config.ema
        self.register_buffer("act_lo", torch.tensor(0.0))
        self.register_buffer("act_hi", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        # LSQ: the activation step size is a parameter learned with the weights.
        self.act_scale = nn.Parameter(torch.tensor(1.0)) if self.activations == "learned" else None

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

    def input_qparams(self) -> tuple[float, int, bool]:
        if self.act_scale is not None:
            scale = float(self.act_scale.detach().abs().clamp(min=1e-8))
            zp = int(torch.clamp(torch.round(-self.act_lo / scale), 0, 255))
            return scale, zp, False
        scale, zp, _, _ = affine_qparams(float(self.act_lo), float(self.act_hi), 8, False)
        return scale, zp, False

    def _fake_quant_input(self, x: Tensor) -> Tensor:
        if self.activations == "none":
            return x
        if self.training or not bool(self.initialized):
            self._observe(x)
        scale_f, zp, _ = self.input_qparams()
        scale = (
            self.act_scale.abs().clamp(min=1e-8)
            if self.act_scale is not None
            else torch.tensor(scale_f)
        )
        return ste_fake_quantize(x, scale, float(zp), 0, 255)

    def forward(self, x: Tensor) -> Tensor:
        w = _fake_quant_weight(self.weight, self.bits, self.group_size)
        return F.linear(self._fake_quant_input(x), w, self.bias)

    def to_quantized(self) -> nn.Module:
        if self.bits == 8:
            qparams = self.input_qparams() if self.activations != "none" else None
            return QuantizedLinear(self.weight, self.bias, per_channel=True, input_qparams=qparams)
        return LowBitLinear(self.weight, self.bias, self.bits, self.group_size, clip_search=False)


def quantize_qat(model: nn.Module, config: QAT) -> nn.Module:
    if config.step == "prepare":
        for name, lin in selected(model, config, (nn.Linear,)):
            if type(lin) is nn.Linear and (
                config.bits == 8 or lin.in_features % config.group_size == 0
            ):
                set_submodule(model, name, FakeQuantLinear(lin, config))
        return model
    prepared = [(n, m) for n, m in model.named_modules() if isinstance(m, FakeQuantLinear)]
    if not prepared:
        raise ConfigError(
            "QAT(step='convert') found no fake-quant layers; run QAT(step='prepare') first"
        )
    for name, fq in prepared:
        set_submodule(model, name, fq.to_quantized())
    quantize_embeddings(model, config)
    return model
