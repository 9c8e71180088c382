"""Mixed precision: measured per-layer sensitivity, then bits that meet a byte budget."""

import copy

import pytest
import torch
from torch import nn

from tinyai import registry
from tinyai.errors import ConfigError
from tinyai.measure.sensitivity import SensitivityTable
from tinyai.quantize import MixedPrecision, quantize_
from tinyai.quantize.mixed import allocate_bits, layer_bytes, layer_params, layer_sensitivity
from tinyai.quantize.modules import LowBitLinear
from tinyai.registry import StageContext


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
    table = layer_sensitivity(model, _evaluate_against(model), bits=(8, 4, 2))
    assert set(table.metrics) == {"0", "2", "4"} and table.x_label == "bits"
    for layer in table.metrics:
        at8, at4, at2 = table.drop(layer)
        assert at8 <= at4 <= at2
    assert all(type(m) is nn.Linear for m in model if not isinstance(m, nn.ReLU))  # restored


def test_allocation_meets_budget_with_less_loss_than_uniform() -> None:
    model = _model()
    evaluate = _evaluate_against(model)
    table = layer_sensitivity(model, evaluate, bits=(8, 4, 2))
    params = layer_params(model)
    uniform4 = sum(layer_bytes(p, 4) for p in params.values())
    bits = allocate_bits(table, params, budget_bytes=uniform4)
    assert sum(layer_bytes(params[n], b) for n, b in bits.items()) <= uniform4
    most_sensitive = max(table.metrics, key=lambda n: table.drop_at(n, 2))
    assert bits[most_sensitive] >= 4  # the most sensitive layer keeps more bits
    mixed = quantize_(copy.deepcopy(model), MixedPrecision(layer_bits=bits))
    uniform = quantize_(copy.deepcopy(model), MixedPrecision(default_bits=4))
    assert evaluate(mixed) >= evaluate(uniform)
    assert {m.bits for m in mixed.modules() if isinstance(m, LowBitLinear)} == set(bits.values())


def test_impossible_budget_is_a_clear_error() -> None:
    table = SensitivityTable("bits", [8.0, 2.0], 1.0, {"a": [1.0, 0.0]}, {"a": 1000})
    with pytest.raises(ConfigError, match="budget_bytes 10 is below"):
        allocate_bits(table, {"a": 1000}, budget_bytes=10)


def test_budget_allocates_through_the_registered_handler() -> None:
    model = _model()
    evaluate = _evaluate_against(model)
    params = layer_params(model)
    budget = int(sum(layer_bytes(p, 4) for p in params.values()))
    ctx = StageContext(evaluate=evaluate)
    registry.apply(model, MixedPrecision(budget_bytes=budget), ctx)
    assert isinstance(ctx.report["sensitivity"], SensitivityTable)
    chosen = ctx.report["resolved_config"].layer_bits
    assert sum(layer_bytes(params[n], b) for n, b in chosen.items()) <= budget
    with pytest.raises(ConfigError, match="needs an evaluation"):
        quantize_(_model(), MixedPrecision(budget_bytes=budget))
