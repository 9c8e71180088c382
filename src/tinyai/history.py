"""What was done to a model, from its first stage on: one typed record per step.

A model directory keeps it in ``history.json`` and an artifact's manifest in ``history``;
every writer (the recipe runner, the single-verb CLI commands, `tinyai.export`) appends a
`Step`, so an artifact shows its whole lineage whoever made it. One schema, one reader:
`read_history` accepts only this shape and says what is wrong with anything else.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from tinyai.errors import ConfigError

HISTORY_FILE = "history.json"


@dataclasses.dataclass
class Step:
    """One thing done to the model.

    technique: the registered technique name ("finetune", "int8-static", ...), or "load" /
        "build" / "export" for the steps around them.
    kind: the technique's kind ("transfer", "distill", "prune", "quantize", "model",
        "export").
    config: the resolved config as `Config.to_dict` writes it (``_type`` included), or {}.
    source: where the model came from ("minilm-l6", a directory) for load/build steps.
    metrics: what was measured right after the step (task metric, bytes, ...), may be empty.
    seconds: wall time of the step.
    time: UTC time the step finished, ISO 8601.
    """

    technique: str
    kind: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float | None = None
    time: str = ""

    def __post_init__(self) -> None:
        if not self.time:
            self.time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "history") -> Step:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: each step must be an object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} in a history step")
        missing = [k for k in ("technique", "kind") if not isinstance(data.get(k), str)]
        if missing:
            raise ConfigError(f"{where}: a history step needs {' and '.join(missing)} (strings)")
        for key in ("config", "metrics"):
            if not isinstance(data.get(key, {}), dict):
                raise ConfigError(f"{where}: {key} of a history step must be an object")
        return cls(**data)


def step_for(config: Any, technique: Any, **fields: Any) -> Step:
    """A Step for a registered technique applied with `config` (a tinyai Config)."""
    return Step(technique=technique.name, kind=technique.kind, config=config.to_dict(), **fields)


def parse_history(data: Any, where: str = "history") -> list[Step]:
    if not isinstance(data, list):
        raise ConfigError(f"{where} must be a JSON list of steps, got {type(data).__name__}")
    return [Step.from_dict(item, f"{where}[{i}]") for i, item in enumerate(data)]


def read_history(model_dir: str | Path) -> list[Step]:
    """The steps recorded in ``model_dir/history.json`` ([] when the file is absent)."""
    path = Path(model_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path} ({exc}); delete it or restore it") from None
    return parse_history(data, str(path))


def history_dicts(steps: list[Step]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in steps]
