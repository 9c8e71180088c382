"""Configs round-trip through JSON, reject bad values, and dispatch through the registry."""

import pytest
import torch
from torch import nn

from tinyai import registry
from tinyai.config import Config
from tinyai.errors import ConfigError
from tinyai.quantize import (
    QAT,
    Int8Dynamic,
    Int8Static,
    MixedPrecision,
    WeightOnly,
    WeightSharing,
    quantize_,
)
from tinyai.quantize.modules import LowBitLinear, QuantizedLinear

CONFIGS = [
    Int8Dynamic(exclude=("head",)),
    Int8Static(observer="entropy", symmetric_activations=True, per_tensor_tolerance=1e-3),
    WeightOnly(bits=2, group_size=64, embedding_bits=8),
    MixedPrecision(layer_bits={"0": 4, "2": 8}),
    QAT(bits=4, activations="none"),
    WeightSharing(bits=5),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_round_trip(config: Config) -> None:
    assert Config.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (WeightOnly, {"bits": 3}, "bits must be 2, 4 or 8"),
        (WeightOnly, {"group_size": 48}, "powers of two"),
        (Int8Static, {"observer": "max"}, "observer must be one of"),
        (Int8Static, {"step": "calibrate"}, "step must be"),
        (QAT, {"activations": "ema"}, "activations must be"),
        (Int8Dynamic, {"embedding_bits": 2}, "embedding_bits"),
        (Int8Static, {"per_tensor_tolerance": -0.1}, "per_tensor_tolerance"),
        (Int8Dynamic, {"per_tensor_tolerance": 1.0}, "per_tensor_tolerance"),
    ],
)
def test_invalid_values_are_clear_errors(cls, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_registry_dispatch_and_layer_selection() -> None:
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    registry.apply(model, Int8Dynamic(exclude=("2",)))
    assert isinstance(model[0], QuantizedLinear) and type(model[2]) is nn.Linear
    names = {t.name for t in registry.techniques() if t.kind == "quantize"}
    assert {"int8-dynamic", "int8-static", "weight-only", "qat", "weight-sharing"} <= names


def test_convert_without_prepare_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="run step='prepare' first"):
        quantize_(nn.Sequential(nn.Linear(8, 8)), Int8Static(step="convert"))


def test_layer_not_divisible_by_group_stays_float() -> None:
    model = quantize_(nn.Sequential(nn.Linear(40, 8), nn.Linear(8, 64)), WeightOnly(group_size=32))
    assert type(model[0]) is nn.Linear and type(model[1]) is nn.Linear
    model = quantize_(nn.Sequential(nn.Linear(64, 8)), WeightOnly(group_size=32))
    assert isinstance(model[0], LowBitLinear)
    assert model[0].weight_packed.numel() == 64 * 8 // 2  # really 4 bits per weight
    assert torch.isfinite(model(torch.randn(2, 64))).all()
