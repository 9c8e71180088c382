"""Calibration observers: watch activations, then choose the float range to quantize.

- minmax: the observed extremes (no clipping; one outlier stretches every step).
- percentile: clip at a percentile of the observed distribution.
- mse: the clipping range that minimises the expected squared quantization error.
- entropy: TensorRT's KL-divergence method: the threshold whose quantized distribution
  stays closest (in KL) to the observed one.

The histogram observers share one histogram over a symmetric range [-A, A] with a fixed
number of bins. When data exceeds A the range doubles and neighbouring bins merge pairwise,
which re-bins exactly (no re-interpolation), so the result does not depend on batch order
beyond the final A.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from tinyai.quantize.primitives import affine_qparams

OBSERVERS = ("minmax", "percentile", "mse", "entropy")


class MinMaxObserver:
    def __init__(self) -> None:
        self.lo = math.inf
        self.hi = -math.inf

    def update(self, x: Tensor) -> None:
        x = x.detach()
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))

    @property
    def seen(self) -> bool:
        return self.lo <= self.hi

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple[float, float]:
        return self.lo, self.hi


class HistogramObserver(MinMaxObserver):
    def __init__(self, bins: int = 2048) -> None:
        super().__init__()
        if bins % 2:
            raise ValueError("bins must be even so that doubling the range merges bin pairs")
        self.bins = bins
        self.amax = 0.0
        self.hist = np.zeros(bins, dtype=np.float64)

    def update(self, x: Tensor) -> None:
        super().update(x)
        x = x.detach().float().flatten()
        amax = float(x.abs().max())
        if self.amax == 0.0:
            self.amax = max(amax, 1e-8)
        while amax > self.amax:
            self._double_range()
        counts = torch.histc(x, bins=self.bins, min=-self.amax, max=self.amax)
        self.hist += counts.double().numpy()

    def _double_range(self) -> None:
        # Old range is the middle half of the new one: bins pair up exactly.
        merged = self.hist.reshape(-1, 2).sum(1)
        quarter = self.bins // 4
        self.hist = np.zeros(self.bins, dtype=np.float64)
        self.hist[quarter : quarter + merged.size] = merged
        self.amax *= 2.0

    def centers(self) -> np.ndarray:
        edges = np.linspace(-self.amax, self.amax, self.bins + 1)
        return (edges[:-1] + edges[1:]) / 2


class PercentileObserver(HistogramObserver):
    def __init__(self, percentile: float = 99.99, bins: int = 2048) -> None:
        super().__init__(bins)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple[float, float]:
        cdf = np.cumsum(self.hist) / max(self.hist.sum(), 1.0)
        tail = 1.0 - self.percentile / 100.0
        edges = np.linspace(-self.amax, self.amax, self.bins + 1)
        lo = edges[int(np.searchsorted(cdf, tail, side="right"))]
        hi = edges[min(int(np.searchsorted(cdf, 1.0 - tail, side="left")) + 1, self.bins)]
        return max(float(lo), self.lo), min(float(hi), self.hi)


class MSEObserver(HistogramObserver):
    """Search shrink factors of the min-max range; score each by histogram-weighted error."""

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple[float, float]:
        c, n = self.centers(), self.hist
        width = 2 * self.amax / self.bins
        best, best_err = (self.lo, self.hi), math.inf
        for f in np.linspace(1.0, 0.2, 81):
            lo, hi = self.lo * f, self.hi * f
            scale, zp, qmin, qmax = affine_qparams(lo, hi, bits, symmetric)
            q = np.clip(np.round(c / scale) + zp, qmin, qmax)
            err = np.sum(n * (c - (q - zp) * scale) ** 2)
            inside = (q > qmin) & (q < qmax)
            # Within-bin spread: a bin narrower than a step adds its own rounding noise.
            err += np.sum(n[inside]) * min(width, scale) ** 2 / 12
            if err < best_err:
                best, best_err = (lo, hi), err
        return best


class EntropyObserver(HistogramObserver):
    """KL threshold on the |x| histogram (TensorRT calibration), applied to both ends."""

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple[float, float]:
        half = self.bins // 2
        absh = self.hist[half:] + self.hist[:half][::-1]
        levels = 1 << (bits - 1)
        best_i, best_kl = half, math.inf
        for i in range(levels, half + 1, max(1, half // 256)):
            kl = _kl_for_threshold(absh, i, levels)
            if kl < best_kl:
                best_i, best_kl = i, kl
        t = best_i * self.amax / half
        return max(self.lo, -t), min(self.hi, t)


def _kl_for_threshold(absh: np.ndarray, i: int, levels: int) -> float:
    p = absh[:i].copy()
    p[-1] += absh[i:].sum()
    # Quantize the clipped distribution into `levels` levels, each spread over its nonzero bins
    # (building Q from P with the outliers folded in keeps KL finite without smoothing).
    chunks = np.array_split(p, levels)
    q = np.concatenate(
        [np.where(ch > 0, ch.sum() / max(np.count_nonzero(ch), 1), 0.0) for ch in chunks]
    )
    p_sum, q_sum = p.sum(), q.sum()
    if p_sum == 0 or q_sum == 0:
        return math.inf
    p, q = p / p_sum, q / q_sum
    mask = p > 0
    if np.any(q[mask] == 0):
        return math.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def make_observer(name: str, percentile: float = 99.99, bins: int = 2048) -> MinMaxObserver:
    if name == "minmax":
        return MinMaxObserver()
    if name == "percentile":
        return PercentileObserver(percentile, bins)
    if name == "mse":
        return MSEObserver(bins)
    if name == "entropy":
        return EntropyObserver(bins)
    raise ValueError(f"unknown observer {name!r}; choose one of {', '.join(OBSERVERS)}")
