import dataclasses

import pytest
from torch import nn

from tinyai import registry
from tinyai.config import Config
from tinyai.errors import ConfigError


@dataclasses.dataclass
class _ScaleConfig(Config):
    factor: float = 2.0


def _scale(model: nn.Module, config: _ScaleConfig, ctx: registry.StageContext) -> nn.Module:
    for p in model.parameters():
        p.data.mul_(config.factor)
    return model


def test_register_and_dispatch_by_name_and_by_config_type() -> None:
    registry.register("test-scale", "test", _ScaleConfig, _scale, "multiply weights")
    assert registry.get("test-scale").config_cls is _ScaleConfig
    model = nn.Linear(2, 2, bias=False)
    before = model.weight.detach().clone()
    registry.apply(model, _ScaleConfig(factor=3.0))
    assert (model.weight.detach() == before * 3).all()
    assert "test-scale" in {t.name for t in registry.techniques()}


def test_unknown_technique_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown technique 'nope'"):
        registry.get("nope")
