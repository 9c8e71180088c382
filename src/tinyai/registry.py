"""The one table from technique names to (config class, function).

The Python API, the CLI and YAML recipes all reach techniques through here, so a default
is written once, in the config dataclass. Technique packages call `register` when they
are imported; `load_builtin_techniques` imports them on first lookup, which keeps
``import tinyai`` free of torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tinyai.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from tinyai.config import Config

# Packages whose import registers the built-in techniques. A package that does not exist
# yet in this checkout is skipped, so partial installs still work.
BUILTIN_TECHNIQUE_PACKAGES = (
    "tinyai.distill",
    "tinyai.prune",
    "tinyai.quantize",
)


@dataclass
class StageContext:
    """What a recipe stage may need besides the model: the task, its data, a teacher."""

    task: Any = None
    teacher: Any = None
    workdir: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


StageFn = Callable[["nn.Module", "Config", StageContext], "nn.Module"]


@dataclass(frozen=True)
class Technique:
    name: str
    kind: str  # "distill", "prune", "quantize", ...
    config_cls: type[Config]
    apply: StageFn
    summary: str


_TECHNIQUES: dict[str, Technique] = {}
_BY_CONFIG: dict[type, Technique] = {}
_loaded = False


def register(name: str, kind: str, config_cls: type[Config], apply: StageFn, summary: str) -> None:
    """Register a technique; called once per technique by its package."""
    existing = _TECHNIQUES.get(name)
    if existing is not None and existing.config_cls is not config_cls:
        raise ValueError(f"technique {name!r} is already registered")
    tech = Technique(name, kind, config_cls, apply, summary)
    _TECHNIQUES[name] = tech
    _BY_CONFIG[config_cls] = tech


def load_builtin_techniques() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in BUILTIN_TECHNIQUE_PACKAGES:
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name != package:
                raise


def get(name: str) -> Technique:
    load_builtin_techniques()
    try:
        return _TECHNIQUES[name]
    except KeyError:
        raise ConfigError(
            f"unknown technique {name!r}; run 'tinyai techniques' to list them "
            f"(known: {', '.join(sorted(_TECHNIQUES)) or 'none'})"
        ) from None


def for_config(config: Config) -> Technique:
    load_builtin_techniques()
    for cls in type(config).__mro__:
        if cls in _BY_CONFIG:
            return _BY_CONFIG[cls]
    raise ConfigError(f"no technique is registered for config type {type(config).__name__}")


def techniques() -> list[Technique]:
    load_builtin_techniques()
    return sorted(_TECHNIQUES.values(), key=lambda t: (t.kind, t.name))


def apply(model: nn.Module, config: Config, context: StageContext | None = None) -> nn.Module:
    """Run the technique that `config` configures; the single dispatch used by recipes."""
    return for_config(config).apply(model, config, context or StageContext())
