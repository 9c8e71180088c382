"""Mixed precision: measured per-layer sensitivity, then bits that meet a byte budget."""

import copy

import pytest
import torch
from torch import nn

from tinyai.quantize import MixedPrecision, quantize_
from tinyai.quantize.mixed import allocate_bits, layer_bytes, layer_params, layer_sensitivity
from tinyai.quantize.modules import LowBitLinear


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 32)
    )
    with torch.no_grad():
        model[2].weight[:, :4] *= 30  # a layer with outliers: the sensitive one
    return model.eval()


X = torch.randn(256, 64, generator=torch.Generator().manual_seed(1))


def _evaluate_against(reference: nn.Module):
    target = reference(X).detach()
    return lambda m: -float((m(X) - target).pow(2).mean())


def test_sensitivity_grows_as_bits_shrink_and_finds_the_outlier_layer() -> None:
    model = _model()
    sens = layer_sensitivity(model, _evaluate_against(model), bits=(8, 4, 2))
    assert set(sens) == {"0", "2", "4"}
    for per_bits in sens.values():
        assert per_bits[8] <= per_bits[4] <= per_bits[2]
    assert all(type(m) is nn.Linear for m in model if not isinstance(m, nn.ReLU))  # restored


def test_allocation_meets_budget_with_less_loss_than_uniform() -> None:
    model = _model()
    evaluate = _evaluate_against(model)
    sens = layer_sensitivity(model, evaluate, bits=(8, 4, 2))
    params = layer_params(model)
    uniform4 = sum(layer_bytes(p, 4) for p in params.values())
    bits = allocate_bits(sens, params, budget_bytes=uniform4)
    assert sum(layer_bytes(params[n], b) for n, b in bits.items()) <= uniform4
    most_sensitive = max(sens, key=lambda n: sens[n][2])
    assert bits[most_sensitive] >= 4  # the most sensitive layer keeps more bits
    mixed = quantize_(copy.deepcopy(model), MixedPrecision(layer_bits=bits))
    uniform = quantize_(copy.deepcopy(model), MixedPrecision(default_bits=4))
    assert evaluate(mixed) >= evaluate(uniform)
    assert {m.bits for m in mixed.modules() if isinstance(m, LowBitLinear)} == set(bits.values())


def test_impossible_budget_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="budget"):
        allocate_bits({"a": {8: 0.0, 2: 1.0}}, {"a": 1000}, budget_bytes=10)
