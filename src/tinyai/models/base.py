"""The table from model config types to model classes, and what every tinyai model offers.

A tinyai reference model is an ``nn.Module`` built from one typed config (``Model(config)``)
that keeps it as ``model.config``. `register_model` records the pair, so `load_model`
can rebuild the architecture from ``config.json`` alone (the ``_type`` names the config,
the allow-list in `tinyai.config` refuses anything else) before loading the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from tinyai.config import Config
from tinyai.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

_MODEL_TYPES: dict[type[Config], type[nn.Module]] = {}

M = TypeVar("M")


def register_model(config_cls: type[Config]) -> Any:
    """Class decorator: `config_cls` builds this model (``Model(config)``)."""

    def decorate(model_cls: type[M]) -> type[M]:
        _MODEL_TYPES[config_cls] = model_cls  # type: ignore[assignment]
        model_cls.config_cls = config_cls  # type: ignore[attr-defined]
        return model_cls

    return decorate


def model_class_for(config: Config) -> type[nn.Module]:
    try:
        return _MODEL_TYPES[type(config)]
    except KeyError:
        raise ModelError(
            f"config type {type(config).__name__} does not describe a tinyai model; "
            "save the directory again with tinyai.save_model"
        ) from None


def build_model(config: Config) -> nn.Module:
    """A freshly initialised model of the architecture `config` describes."""
    return model_class_for(config)(config)  # type: ignore[call-arg]


def is_tinyai_model(model: Any) -> bool:
    return isinstance(getattr(model, "config", None), Config) and type(model) in set(
        _MODEL_TYPES.values()
    )
