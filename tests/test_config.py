import dataclasses
import json

import pytest

from tinyai.config import Config, config_type
from tinyai.errors import ConfigError


@dataclasses.dataclass
class _Inner(Config):
    bits: int = 8


@dataclasses.dataclass
class _Outer(Config):
    VERSION = 2
    sparsity: float = 0.5
    names: tuple[str, ...] = ()
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    limit: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")


def test_round_trip_keeps_type_version_and_nested_configs() -> None:
    cfg = _Outer(sparsity=0.9, names=("fc1", "fc2"), inner=_Inner(bits=4), limit=3)
    data = json.loads(cfg.to_json())
    assert data["_type"] == "_Outer" and data["_version"] == 2
    assert data["inner"] == {"_type": "_Inner", "_version": 1, "bits": 4}
    back = Config.from_json(cfg.to_json())
    assert back == cfg and isinstance(back.names, tuple)


def test_int_is_accepted_for_float_field() -> None:
    assert _Outer.from_dict({"sparsity": 0}).sparsity == 0.0


def test_unknown_key_is_an_error_naming_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key.*sparsty.*valid keys"):
        _Outer.from_dict({"sparsty": 0.5})


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown config type .os\.system."):
        Config.from_dict({"_type": "os.system"})


def test_newer_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="version 3"):
        _Outer.from_dict({"_type": "_Outer", "_version": 3})


def test_wrong_base_class_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a _Inner config"):
        _Inner.from_dict({"_type": "_Outer"})


def test_validation_error_becomes_config_error() -> None:
    expected = r"^stages\[0\]\.sparsity: must be in \[0, 1\), got 1\.5$"
    with pytest.raises(ConfigError, match=expected):
        _Outer.from_dict({"sparsity": 1.5}, "stages[0]")


def test_wrong_type_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^x\.inner\.bits: expected a whole number, got \"8\"$"):
        _Outer.from_dict({"inner": {"bits": "8"}}, "x")
    with pytest.raises(ConfigError, match=r"names\[1\]: expected a string"):
        _Outer.from_dict({"names": ["a", 3]})
    with pytest.raises(ConfigError, match="finite"):
        _Outer.from_dict({"sparsity": float("nan")})


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'sparsity'"):
        _Outer.from_dict({"sparsty": 0.5})


def test_lookup_by_name() -> None:
    assert config_type("_Outer") is _Outer
