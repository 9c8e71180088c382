"""Typed configs that round-trip to JSON with a type name and a version.

Every technique is configured by a dataclass deriving from `Config`. Serialised form:
``{"_type": "MagnitudePruning", "_version": 1, "sparsity": 0.9}``. Loading accepts only
types that were defined as `Config` subclasses (the allow-list), rejects unknown keys and
versions newer than the code, so a recipe can never silently drop a setting or
instantiate an arbitrary class.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, ClassVar, Self

from tinyai.errors import ConfigError

_CONFIG_TYPES: dict[str, type[Config]] = {}


@dataclasses.dataclass
class Config:
    """Base class for technique configs. Subclasses are dataclasses; bump VERSION on change."""

    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        known = _CONFIG_TYPES.get(name)
        if known is not None and known.__module__ != cls.__module__:
            raise TypeError(f"config type name {name!r} already used by {known.__module__}")
        _CONFIG_TYPES[name] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_type": type(self).__name__, "_version": self.VERSION}
        for f in dataclasses.fields(self):
            out[f.name] = _encode(getattr(self, f.name))
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build this config (or the allow-listed subclass named by ``_type``) from a dict."""
        data = dict(data)
        type_name = data.pop("_type", cls.__name__)
        version = data.pop("_version", None)
        target = config_type(type_name)
        if not issubclass(target, cls):
            raise ConfigError(f"expected a {cls.__name__} config, got {type_name!r}")
        if version is not None and int(version) > target.VERSION:
            raise ConfigError(
                f"{type_name} config has version {version}, this tinyai reads up to "
                f"{target.VERSION}: upgrade tinyai or re-create the config"
            )
        fields = {f.name: f for f in dataclasses.fields(target) if f.init}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)} for {type_name}; "
                f"valid keys: {', '.join(sorted(fields))}"
            )
        hints = typing.get_type_hints(target)
        kwargs = {k: _decode(v, hints.get(k, Any)) for k, v in data.items()}
        try:
            return target(**kwargs)  # type: ignore[return-value]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid {type_name} config: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError("config JSON must be an object with a _type key")
        return cls.from_dict(data)


def config_type(name: str) -> type[Config]:
    """The allow-listed config class called `name`."""
    if name not in _CONFIG_TYPES:
        _import_builtin_configs()
    try:
        return _CONFIG_TYPES[name]
    except KeyError:
        raise ConfigError(
            f"unknown config type {name!r}; known types: {', '.join(sorted(_CONFIG_TYPES))}"
        ) from None


def _import_builtin_configs() -> None:
    # Technique packages define their configs at import; loading a recipe may be the first
    # thing a process does, so a name not yet known triggers importing the built-in ones.
    # Only on a miss: loading a model must not depend on every technique package.
    from tinyai import registry

    registry.load_builtin_techniques()


def _encode(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, hint: Any) -> Any:
    """Turn JSON values back into the field's declared type (nested configs, tuples)."""
    if isinstance(value, dict) and "_type" in value:
        return Config.from_dict(value)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(value, args[0]) if len(args) == 1 else value
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_decode(v, inner) for v in value)
    if origin is list and isinstance(value, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return [_decode(v, inner) for v in value]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
