"""Quantize / dequantize arithmetic shared by PTQ, QAT, low-bit weights and the ONNX pass.

Conventions (the same ones ONNX Runtime's kernels use, so the PyTorch reference and the
exported model compute the same numbers):
- affine: ``x ≈ (q - zero_point) * scale``; rounding is round-half-to-even (``torch.round``,
  like ONNX QuantizeLinear); the float range always contains 0 so zero is exact (padding,
  pruned weights).
- int8 weights are symmetric signed, per output channel or per tensor. Those that feed ONNX
  Runtime's integer kernels use 7 bits, [-63, 63], unless full range is asked for (see
  `PORTABLE_WEIGHT_QMAX`); weight-only int8 (dequantized to float at run time) uses [-127, 127].
- low-bit weights (2/4/8) are unsigned codes in [0, 2**bits) with one scale and one integer
  zero point per group of `group_size` input columns (MatMulNBits' layout).
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = 1e-12

# ONNX Runtime's u8 x s8 GEMM and conv kernels on x86 CPUs without VNNI (AVX2: VPMADDUBSW) add
# two u8 * s8 products in int16, which saturates once 2 * 255 * |w| > 32767: full-range int8
# weights give wrong outputs there (relative error 0.138 in benchmarks/int8_saturation.py) and
# exact ones on ARM and VNNI CPUs. With |w| <= 63 no pair can saturate, so the same artifact is
# exact on every CPU; this is ONNX Runtime's own `reduce_range` remedy.
PORTABLE_WEIGHT_QMAX = 63
FULL_WEIGHT_QMAX = 127


def int8_weight_qmax(full_range: bool) -> int:
    """Largest |code| of int8 weights that run in integer kernels."""
    return FULL_WEIGHT_QMAX if full_range else PORTABLE_WEIGHT_QMAX


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """Integer range of a `bits`-bit code."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def affine_qparams(
    lo: float, hi: float, bits: int = 8, symmetric: bool = False
) -> tuple[float, int, int, int]:
    """(scale, zero_point, qmin, qmax) for a float range: symmetric -> signed, zero point 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if symmetric:
        qmin, qmax = qrange(bits, signed=True)
        amax = max(-lo, hi)
        return max(amax / qmax, _EPS), 0, qmin, qmax
    qmin, qmax = qrange(bits, signed=False)
    scale = max((hi - lo) / (qmax - qmin), _EPS)
    zero_point = int(min(max(round(qmin - lo / scale), qmin), qmax))
    return scale, zero_point, qmin, qmax


def fake_quantize(
    x: Tensor, scale: Tensor | float, zero_point: Tensor | float, qmin: int, qmax: int
) -> Tensor:
    """Quantize then dequantize (no gradient trick: see `ste_fake_quantize` for training)."""
    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


def ste_fake_quantize(
    x: Tensor, scale: Tensor, zero_point: Tensor | float, qmin: int, qmax: int
) -> Tensor:
    """Fake-quant whose gradient w.r.t. x is the straight-through estimator (1 inside the range).

    Gradient also flows to `scale` when it is a learned parameter (LSQ-style), because the
    rounding is the only non-differentiable part and it is bypassed with detach.
    """
    scaled = x / scale + zero_point
    rounded = scaled + (torch.round(scaled) - scaled).detach()
    q = torch.clamp(rounded, qmin, qmax)
    return (q - zero_point) * scale


def dynamic_uint8_qparams(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-tensor asymmetric uint8 params exactly as ONNX DynamicQuantizeLinear computes them."""
    lo = torch.clamp(x.min(), max=0.0)
    hi = torch.clamp(x.max(), min=0.0)
    scale = torch.clamp((hi - lo) / 255.0, min=_EPS)
    zero_point = torch.clamp(torch.round(-lo / scale), 0, 255)
    return scale, zero_point


def weight_scale_int8(w: Tensor, per_channel: bool, *, qmax: int) -> Tensor:
    """Symmetric int8 scales [out] of a [out, ...] weight (equal entries when per-tensor)."""
    w = w.detach().float().flatten(1)
    amax = w.abs().amax(dim=1) if per_channel else w.abs().max().expand(w.shape[0])
    return torch.clamp(amax / qmax, min=_EPS)


def quantize_weight_int8(w: Tensor, per_channel: bool, *, qmax: int) -> tuple[Tensor, Tensor]:
    """Symmetric int8 weight codes [out, in] in [-qmax, qmax] and scales [out] (equal entries
    when per-tensor)."""
    w = w.detach().float()
    scale = weight_scale_int8(w, per_channel, qmax=qmax)
    q = torch.clamp(torch.round(w / scale[:, None]), -qmax, qmax).to(torch.int8)
    return q, scale.contiguous()


def per_tensor_noise(w: Tensor, *, qmax: int) -> float:
    """Mean over output channels of (rounding noise power / weight power) with one int8 scale
    for the whole [out, in] matrix: how much a layer loses by not being per channel.
    All-zero channels (pruned) carry no signal and are left out of the mean."""
    w = w.detach().float()
    noise = (dequantize_weight_int8(*quantize_weight_int8(w, False, qmax=qmax)) - w).pow(2)
    power = w.pow(2).mean(dim=1)
    live = power > 0
    if not bool(live.any()):
        return 0.0
    return float((noise.mean(dim=1)[live] / power[live]).mean())


def use_per_channel(weight: Tensor, per_channel: bool, tolerance: float, *, qmax: int) -> bool:
    """Per-channel int8 weight scales, unless `tolerance` > 0 allows this weight's per-tensor
    noise (`per_tensor_noise`): one rule for PTQ and QAT, so QAT trains on the deployed grid."""
    if not per_channel or tolerance <= 0:
        return per_channel
    return per_tensor_noise(weight, qmax=qmax) > tolerance


def dequantize_weight_int8(q: Tensor, scale: Tensor) -> Tensor:
    return q.float() * scale[:, None]


def _group_error(w: Tensor, lo: Tensor, hi: Tensor, bits: int) -> tuple[Tensor, Tensor, Tensor]:
    qmax = (1 << bits) - 1
    scale = torch.clamp((hi - lo) / qmax, min=_EPS)
    zp = torch.clamp(torch.round(-lo / scale), 0, qmax)
    codes = torch.clamp(torch.round(w / scale[..., None]) + zp[..., None], 0, qmax)
    err = ((codes - zp[..., None]) * scale[..., None] - w).pow(2).sum(-1)
    return err, scale, zp


def quantize_weight_groupwise(
    w: Tensor, bits: int, group_size: int, symmetric: bool = False, clip_search: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Group-wise low-bit weight quantization of a [rows, cols] matrix along cols.

    Returns uint8 codes [rows, cols], float32 scales [rows, groups] and uint8 zero points
    [rows, groups]. With `clip_search` each group's range is shrunk by the factor (from a
    small grid) that minimises its squared error: at 4 and 2 bits the extreme weights
    otherwise waste most of the levels.
    """
    rows, cols = w.shape
    if cols % group_size:
        raise ValueError(f"{cols} input columns are not a multiple of group_size={group_size}")
    g = w.detach().float().reshape(rows, cols // group_size, group_size)
    lo = torch.clamp(g.amin(-1), max=0.0)
    hi = torch.clamp(g.amax(-1), min=0.0)
    if symmetric:
        amax = torch.maximum(-lo, hi)
        lo, hi = -amax, amax * ((1 << (bits - 1)) - 1) / (1 << (bits - 1))
    factors = torch.linspace(1.0, 0.5, 11) if clip_search else torch.ones(1)
    best_err, best_scale, best_zp = None, None, None
    for f in factors:
        err, scale, zp = _group_error(g, lo * f, hi * f, bits)
        if symmetric:
            zp = torch.full_like(zp, 1 << (bits - 1))
            err = _symmetric_error(g, scale, zp, bits)
        if best_err is None:
            best_err, best_scale, best_zp = err, scale, zp
            continue
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_zp = torch.where(better, zp, best_zp)
    assert best_scale is not None and best_zp is not None
    qmax = (1 << bits) - 1
    codes = torch.clamp(torch.round(g / best_scale[..., None]) + best_zp[..., None], 0, qmax)
    return (
        codes.reshape(rows, cols).to(torch.uint8),
        best_scale.contiguous(),
        best_zp.to(torch.uint8),
    )


def _symmetric_error(g: Tensor, scale: Tensor, zp: Tensor, bits: int) -> Tensor:
    qmax = (1 << bits) - 1
    codes = torch.clamp(torch.round(g / scale[..., None]) + zp[..., None], 0, qmax)
    return ((codes - zp[..., None]) * scale[..., None] - g).pow(2).sum(-1)


def dequantize_groupwise(codes: Tensor, scales: Tensor, zero_points: Tensor) -> Tensor:
    """Float32 [rows, cols] from codes; same float32 op order as the numpy runtime codec."""
    rows, cols = codes.shape
    groups = scales.shape[1]
    c = codes.float().reshape(rows, groups, cols // groups)
    return ((c - zero_points.float()[..., None]) * scales.float()[..., None]).reshape(rows, cols)


def pack_codes(codes: Tensor, bits: int) -> Tensor:
    """Torch mirror of `runtime.codecs.lowbit.pack_bits` (low bits first along the last axis)."""
    per_byte = 8 // bits
    grouped = codes.to(torch.uint8).reshape(*codes.shape[:-1], -1, per_byte)
    out = torch.zeros(grouped.shape[:-1], dtype=torch.uint8)
    for i in range(per_byte):
        out |= grouped[..., i] << (i * bits)
    return out


def unpack_codes(packed: Tensor, bits: int) -> Tensor:
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    parts = [(packed >> (i * bits)) & mask for i in range(per_byte)]
    return torch.stack(parts, dim=-1).reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)
