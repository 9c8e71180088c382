"""Quantize-dequantize error bounds and bit-packing round trips."""

import numpy as np
import pytest
import torch

from tinyai.quantize import primitives as P
from tinyai.runtime.codecs.lowbit import pack_bits, unpack_bits, unpack_groupwise


def test_int8_per_channel_error_is_at_most_half_a_step() -> None:
    w = torch.randn(64, 96) * torch.logspace(-2, 1, 64)[:, None]  # channels of very different scale
    q, scale = P.quantize_weight_int8(w, True, qmax=P.FULL_WEIGHT_QMAX)
    err = (P.dequantize_weight_int8(q, scale) - w).abs()
    assert q.dtype == torch.int8
    assert torch.all(err <= scale[:, None] / 2 + 1e-7)


def test_per_channel_beats_per_tensor_on_uneven_channels() -> None:
    w = torch.randn(64, 96) * torch.logspace(-2, 1, 64)[:, None]
    def error(per_channel: bool) -> torch.Tensor:
        codes = P.quantize_weight_int8(w, per_channel, qmax=P.PORTABLE_WEIGHT_QMAX)
        return (P.dequantize_weight_int8(*codes) - w).pow(2).mean()

    err_pc, err_pt = error(True), error(False)
    assert err_pc < err_pt / 2


def test_per_tensor_noise_separates_even_from_outlier_channels() -> None:
    even = torch.randn(64, 96)
    uneven = even * torch.logspace(-2, 1, 64)[:, None]
    # 8-bit rounding noise of a Gaussian row is ~1e-4 of its power; one shared scale for
    # channels 1000x apart in size leaves the small channels mostly noise.
    assert P.per_tensor_noise(even, qmax=127) < 1e-3 < 0.1 < P.per_tensor_noise(uneven, qmax=127)
    pruned = even.clone()
    pruned[:8] = 0  # all-zero channels carry no signal and do not count
    assert P.per_tensor_noise(pruned, qmax=127) < 1e-3


def test_tolerance_picks_per_tensor_only_for_smooth_layers() -> None:
    from torch import nn

    from tinyai.quantize import Int8Dynamic, quantize_
    from tinyai.quantize.modules import QuantizedLinear

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(96, 64), nn.Linear(96, 64))
    model[1].weight.data *= torch.logspace(-2, 1, 64)[:, None]
    quantize_(model, Int8Dynamic(per_tensor_tolerance=1e-3))
    scales = [m.weight_scale for m in model if isinstance(m, QuantizedLinear)]
    assert bool((scales[0] == scales[0][0]).all())  # smooth: one scale
    assert len(set(scales[1].tolist())) == 64  # outlier channels: one scale per channel


@pytest.mark.parametrize("symmetric", [False, True])
def test_activation_qparams_cover_range_and_keep_zero_exact(symmetric: bool) -> None:
    x = torch.randn(1000) * 3 + 1
    scale, zp, qmin, qmax = P.affine_qparams(float(x.min()), float(x.max()), 8, symmetric)
    y = P.fake_quantize(x, scale, zp, qmin, qmax)
    assert (y - x).abs().max() <= scale / 2 + 1e-6
    assert float(P.fake_quantize(torch.zeros(1), scale, zp, qmin, qmax)) == 0.0


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_groupwise_error_bound_and_codes_in_range(bits: int) -> None:
    w = torch.randn(32, 128)
    codes, scales, zps = P.quantize_weight_groupwise(w, bits, 32, clip_search=False)
    assert codes.dtype == torch.uint8 and int(codes.max()) < (1 << bits)
    deq = P.dequantize_groupwise(codes, scales, zps)
    step = scales.repeat_interleave(32, dim=1)
    # zero is on the grid, so the range is widened by < 1 step: error <= one step.
    assert torch.all((deq - w).abs() <= step + 1e-6)


def test_clip_search_never_increases_error() -> None:
    w = torch.randn(64, 128)
    w[0, 0] = 12.0  # an outlier that wastes levels without clipping
    for bits in (2, 4):
        plain = P.dequantize_groupwise(*P.quantize_weight_groupwise(w, bits, 32, clip_search=False))
        searched = P.dequantize_groupwise(
            *P.quantize_weight_groupwise(w, bits, 32, clip_search=True)
        )
        assert (searched - w).pow(2).sum() <= (plain - w).pow(2).sum()


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pack_unpack_round_trip_numpy_and_torch_agree(bits: int) -> None:
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, size=(7, 64), dtype=np.uint8)
    packed = pack_bits(codes, bits)
    assert packed.shape == (7, 64 * bits // 8)  # really bits/8 bytes per weight
    assert np.array_equal(unpack_bits(packed, bits), codes)
    torch_packed = P.pack_codes(torch.from_numpy(codes), bits).numpy()
    assert np.array_equal(torch_packed, packed)
    assert np.array_equal(P.unpack_codes(torch.from_numpy(packed), bits).numpy(), codes)


def test_numpy_unpack_at_load_matches_torch_dequantize_bit_for_bit() -> None:
    w = torch.randn(16, 64)
    codes, scales, zps = P.quantize_weight_groupwise(w, 2, 32)
    ref = P.dequantize_groupwise(codes, scales, zps).numpy()
    packed = pack_bits(codes.numpy(), 2)
    got = unpack_groupwise(packed, scales.numpy(), zps.numpy(), 2, 32, 64)
    assert np.array_equal(got, ref)


def test_pack_rejects_out_of_range_codes() -> None:
    with pytest.raises(ValueError, match="codes must lie"):
        pack_bits(np.array([[0, 4, 0, 0]], dtype=np.uint8), 2)
