"""Calibration observers choose sensible ranges on a heavy-tailed activation."""

import pytest
import torch

from tinyai.quantize.observers import make_observer
from tinyai.quantize.primitives import affine_qparams, fake_quantize


def _activations() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    batches = []
    for i in range(8):
        x = torch.randn(4096, generator=g)
        if i == 0:
            x[:2] = 40.0  # rare outliers (0.006%), as after a LayerNorm/GELU
        batches.append(x)
    return batches


def _errors(name: str) -> tuple[float, float, tuple[float, float]]:
    """(error on all data, error on the bulk without the outliers, chosen range)."""
    obs = make_observer(name)
    data = _activations()
    for x in data:
        obs.update(x)
    lo, hi = obs.range(8, False)
    scale, zp, qmin, qmax = affine_qparams(lo, hi, 8, False)
    x = torch.cat(data)
    err = (fake_quantize(x, scale, zp, qmin, qmax) - x).pow(2)
    return float(err.mean()), float(err[x < 39].mean()), (lo, hi)


def test_minmax_keeps_the_outliers() -> None:
    _, _, (lo, hi) = _errors("minmax")
    assert hi == pytest.approx(40.0) and lo < -3.0


@pytest.mark.parametrize("name", ["percentile", "entropy"])
def test_clipping_observers_resolve_the_bulk_better_than_minmax(name: str) -> None:
    _, bulk_minmax, _ = _errors("minmax")
    _, bulk, (lo, hi) = _errors(name)
    assert bulk < bulk_minmax / 4
    assert 2.0 < hi < 40.0 and lo < -2.0  # clips the outliers, keeps the bulk


def test_mse_observer_minimises_total_error() -> None:
    total_minmax, _, _ = _errors("minmax")
    for name in ("percentile", "entropy"):
        assert _errors("mse")[0] <= min(total_minmax, _errors(name)[0]) * 1.05


def test_histogram_range_doubling_is_exact() -> None:
    obs = make_observer("percentile")
    obs.update(torch.linspace(-1, 1, 1000))
    obs.update(torch.linspace(-3, 3, 1000))
    assert obs.hist.sum() == 2000
    assert obs.amax >= 3.0
