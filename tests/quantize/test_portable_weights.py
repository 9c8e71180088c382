"""int8 weights that run in ONNX Runtime's integer kernels are 7-bit by default, so an artifact
computes the same numbers on every CPU (x86 without VNNI saturates full-range u8 x s8 pairs:
see `tinyai.quantize.primitives.PORTABLE_WEIGHT_QMAX`); `full_range_weights` opts into 8 bits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tinyai.quantize import QAT, Int8Dynamic, Int8Static, quantize_, to_onnx
from tinyai.quantize import primitives as P
from tinyai.quantize.modules import QuantizedConv2d, QuantizedLinear
from tinyai.quantize.primitives import FULL_WEIGHT_QMAX, PORTABLE_WEIGHT_QMAX


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))


def _batches() -> list[torch.Tensor]:
    return [torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(s)) for s in range(3)]


def _two_step(config_type: type, full_range: bool) -> Callable[[nn.Module], nn.Module]:
    def apply(model: nn.Module) -> nn.Module:
        quantize_(model, config_type(full_range_weights=full_range))
        for x in _batches():
            model(x)
        model.eval()
        return quantize_(model, config_type(step="convert", full_range_weights=full_range))
    return apply


def _schemes(full_range: bool) -> dict[str, Callable[[nn.Module], nn.Module]]:
    return {
        "int8-dynamic": lambda m: quantize_(m, Int8Dynamic(full_range_weights=full_range)),
        "int8-static": _two_step(Int8Static, full_range),
        "qat": _two_step(QAT, full_range),
    }


@pytest.mark.parametrize("full_range", [False, True], ids=["default", "full-range"])
@pytest.mark.parametrize("scheme", list(_schemes(False)))
def test_integer_kernel_weights_use_7_bits_unless_full_range_is_asked(
    scheme: str, full_range: bool
) -> None:
    model = _schemes(full_range)[scheme](_net())
    layers = [m for m in model.modules() if isinstance(m, QuantizedLinear | QuantizedConv2d)]
    assert layers
    want = FULL_WEIGHT_QMAX if full_range else PORTABLE_WEIGHT_QMAX
    for layer in layers:
        # per channel: every output channel reaches the top of the range, none passes it
        codes = layer.weight_int8.flatten(1).abs().amax(dim=1)
        assert int(codes.min()) == int(codes.max()) == want


def test_products_that_saturate_x86_without_vnni_are_exact(tmp_path) -> None:
    # Inputs at the top of the u8 range times weights at the top of theirs: the pairs that
    # overflow int16 in ORT's AVX2 u8 x s8 kernel when weights are full-range.
    torch.manual_seed(0)
    layer = nn.Linear(256, 64)
    with torch.no_grad():
        layer.weight.copy_(torch.sign(torch.randn(64, 256)))
    model = quantize_(copy.deepcopy(nn.Sequential(layer)), Int8Dynamic())
    x = torch.rand(8, 256) * 0.1 + 0.9
    path = to_onnx(model, tmp_path / "m.onnx", {"input": x})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    want = model(x).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), rtol=0)


@pytest.mark.parametrize("full_range", [False, True], ids=["default", "full-range"])
def test_qat_trains_on_the_grid_it_deploys(full_range: bool) -> None:
    from tinyai.quantize.qat import FakeQuantConv2d, FakeQuantLinear, _fake_quant_int8

    model = _net()
    quantize_(model, QAT(full_range_weights=full_range))
    for x in _batches():
        model(x)
    trained = {}
    for name, m in model.named_modules():
        if isinstance(m, FakeQuantLinear):
            trained[name] = _fake_quant_int8(m.weight, m.per_channel, m.weight_qmax)
        elif isinstance(m, FakeQuantConv2d):
            trained[name] = _fake_quant_int8(m.conv.weight, True, m.weight_qmax)
    model.eval()
    quantize_(model, QAT(step="convert", full_range_weights=full_range))
    for name, weight in trained.items():
        deployed = model.get_submodule(name)
        got = (deployed.dequantized_weight() if isinstance(deployed, QuantizedConv2d)
               else P.dequantize_weight_int8(deployed.weight_int8, deployed.weight_scale))
        torch.testing.assert_close(got, weight.detach(), rtol=0, atol=1e-6)


def test_qat_convert_refuses_another_grid_than_prepare() -> None:
    from tinyai.errors import ConfigError

    model = _net()
    quantize_(model, QAT())
    model(_batches()[0])
    with pytest.raises(ConfigError, match="convert with the same full_range_weights"):
        quantize_(model, QAT(step="convert", full_range_weights=True))


def test_static_int8_conv_products_at_the_top_of_both_ranges_are_exact(tmp_path) -> None:
    # QLinearConv runs the same u8 x s8 kernels: inputs near the top of their range (all
    # positive, so the uint8 codes are near 255) times weights at the top of theirs.
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 16, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.sign(torch.randn_like(conv.weight)))
    model = nn.Sequential(conv)
    quantize_(model, Int8Static())
    x = torch.rand(4, 32, 8, 8) * 0.1 + 0.9
    model(x)
    quantize_(model.eval(), Int8Static(step="convert"))
    path = to_onnx(model, tmp_path / "m.onnx", {"input": x})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    want = model(x).detach().numpy()
    # one output quantization step of slack: ORT requantizes with a fused float multiplier
    step = float(model[0].output_scale)
    np.testing.assert_allclose(got, want, atol=step * 1.01, rtol=0)
