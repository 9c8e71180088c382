"""Typed configs that round-trip to JSON with a type name and a version.

Every technique is configured by a dataclass deriving from `Config`. Serialised form:
``{"_type": "MagnitudePruning", "_version": 1, "sparsity": 0.9}``. Loading accepts only
types that were defined as `Config` subclasses (the allow-list), rejects unknown keys (with
the closest valid key suggested), values of the wrong type and versions newer than the code,
so a recipe can never silently drop a setting or instantiate an arbitrary class. Every
error names the exact place, e.g. ``stages[2].magnitude-pruning.sparsity: must be in
[0, 1), got 1.5``: the Python API, the CLI and YAML recipes share this one validation.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
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

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated like a new config."""
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{type(self).__name__}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Self:
        """Build this config (or the allow-listed subclass named by ``_type``) from a dict.

        `where` names the place in a recipe or file; every error is prefixed with it.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{_at(where)}expected a mapping of {cls.__name__} settings, "
                              f"got {_show(data)}")
        data = dict(data)
        type_name = data.pop("_type", cls.__name__)
        version = data.pop("_version", None)
        target = config_type(type_name)
        if not issubclass(target, cls):
            raise ConfigError(f"{_at(where)}expected a {cls.__name__} config, got {type_name!r}")
        if version is not None and (not isinstance(version, int) or version > target.VERSION):
            raise ConfigError(
                f"{_at(where)}{type_name} config has version {version}, this tinyai reads up to "
                f"{target.VERSION}: upgrade tinyai or re-create the config"
            )
        fields = {f.name: f for f in dataclasses.fields(target) if f.init}
        for key in data:
            if key not in fields:
                raise ConfigError(f"{_at(where)}{unknown_key_message(key, fields, type_name)}")
        hints = typing.get_type_hints(target)
        kwargs = {k: _decode(v, hints.get(k, Any), _join(where, k)) for k, v in data.items()}
        try:
            return target(**kwargs)  # type: ignore[return-value]
        except (TypeError, ValueError) as exc:
            raise ConfigError(_validation_message(where, type_name, str(exc), fields)) from None

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


def unknown_key_message(key: Any, valid: Any, owner: str) -> str:
    """'unknown key X for OWNER; did you mean Y? (valid keys: ...)'."""
    names = sorted(str(v) for v in valid)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r} for {owner}; {hint}(valid keys: {', '.join(names)})"


def _import_builtin_configs() -> None:
    # Technique packages define their configs at import; loading a recipe may be the first
    # thing a process does, so a name not yet known triggers importing the built-in ones.
    # Only on a miss: loading a model must not depend on every technique package.
    from tinyai import registry

    registry.load_builtin_techniques()


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else None
    return text if text is not None else type(value).__name__


def _validation_message(where: str, type_name: str, message: str, fields: Any) -> str:
    """A __post_init__ message like 'sparsity must be in [0, 1)' becomes
    'WHERE.sparsity: must be in [0, 1)'; other messages are prefixed with WHERE."""
    first = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s+((?:must|is|are|has|needs?|should)\b.*)",
                     message)
    if first and first.group(1) in fields:
        return f"{_join(where, first.group(1))}: {first.group(2)}"
    return f"{where or type_name}: {message}"


def _encode(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, hint: Any, where: str) -> Any:
    """Check a JSON/YAML value against the field's declared type and convert it (nested
    configs, tuples); a value of the wrong type is an error naming `where`."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: must not be empty (null)")
        others = [a for a in args if a is not type(None)]
        errors = []
        for arg in others:
            try:
                return _decode(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if isinstance(hint, type) and issubclass(hint, Config):
        return hint.from_dict(value, where)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {_show(value)}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if origin is tuple and len(args) > 1 and len(args) == len(typing.get_args(hint)):
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_decode(v, a, f"{where}[{i}]") for i, (v, a) in
                         enumerate(zip(value, args, strict=True)))
        inner = args[0] if args else Any
        items = [_decode(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_show(value)}")
        key_t, value_t = (typing.get_args(hint) or (Any, Any))
        return {_decode(k, key_t, where): _decode(v, value_t, f"{where}[{k!r}]")
                for k, v in value.items()}
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {_show(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a whole number, got {_show(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where}: must be a finite number, got {value}")
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {_show(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {_show(value)}")
    return value
