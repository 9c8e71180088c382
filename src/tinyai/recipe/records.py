"""The typed contents of a run directory's ``metrics.json``: the one source of every figure
the report shows and the CLI prints.

    RunMetrics
      recipe       the recipe with every default resolved (what `tinyai compress` ran)
      task         TaskInfo: name, kind, primary metric, its direction, split, examples
      machine      MachineInfo: CPU model, threads, versions
      stages       [StageRecord]: index 0 is the starting model (the teacher) as loaded or
                   trained, then one record per recipe stage, each measured on its artifact
      peers        [PeerRow]: tools people use today, measured beside the run (benchmarks)
      targets      [TargetResult]: each recipe target, met or missed
      teacher_stage index of the stage whose model is the teacher the ratios refer to
      final_stage  index of the stage whose artifact is the run's result

Plain dataclasses with `to_dict` / `from_dict` (no pickle, unknown keys refused), numbers
as JSON numbers. Kept free of torch so the report can be drawn where torch is absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tinyai.errors import ConfigError

METRICS_FILE = "metrics.json"
SCHEMA = "tinyai-run-metrics"
SCHEMA_VERSION = 1

T = TypeVar("T")


def _build(cls: type[T], data: Any, where: str) -> T:
    """A dataclass from a dict, nested dataclasses included; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        nested = _NESTED.get((cls.__name__, name))
        if nested is not None and value is not None:
            if isinstance(value, list):
                value = [_build(nested, v, f"{where}.{name}[{i}]") for i, v in enumerate(value)]
            else:
                value = _build(nested, value, f"{where}.{name}")
        if not _fits(value, _hints(cls)[name]):
            hint = _hints(cls)[name]
            hint = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            raise ConfigError(
                f"{where}.{name}: expected {hint}, got {type(value).__name__}; the file is "
                "damaged, re-run tinyai compress"
            )
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value has a field's annotated type (ints pass for floats, bools for
    neither): a damaged file fails while it is read, not later where a number is used."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _fits(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, hint) if isinstance(hint, type) else True


@dataclasses.dataclass
class LayerRow:
    """One weight-bearing layer of a model, as `tinyai.summary` measures it."""

    name: str
    type: str
    params: int
    nonzero: int
    bits_per_weight: float  # stored bits per parameter, scales and zero points included
    bytes: int  # stored bytes (dense)
    packed_bytes: int | None = None  # under the smallest lossless codec
    macs: int | None = None

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0


@dataclasses.dataclass
class Sensitivity:
    """Per-layer curves a stage computed: metric (y) against sparsity or bits (x)."""

    x_label: str  # "sparsity" | "bits"
    y_label: str  # the task metric's name
    curves: dict[str, list[list[float]]]  # layer name -> [[x, y], ...]


@dataclasses.dataclass
class Measurement:
    """A model measured on its exported artifact (the metric through the torch-free runtime,
    bytes from the files, latency from `tinyai.runtime.bench`)."""

    metric: float | None  # the task's primary metric on its held-out split
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    examples: int | None = None  # held-out examples scored
    params: int | None = None
    nonzero_params: int | None = None
    bytes: int | None = None  # artifact bytes (`tinyai.runtime.size.artifact_bytes`)
    bytes_without_tokenizer: int | None = None
    latency_ms: float | None = None  # batch 1, median, `threads` threads
    latency_p90_ms: float | None = None
    end_to_end_ms: float | None = None  # preprocessing included
    throughput: float | None = None  # items/s at the bench batch size
    peak_memory_mb: float | None = None
    macs: int | None = None  # per example, at the task's example input size
    parity_max_abs_diff: float | None = None  # artifact vs PyTorch at export


@dataclasses.dataclass
class StageRecord:
    index: int
    name: str  # "teacher", or the stage's name in the recipe (default: its technique)
    technique: str  # registered technique, or "load" / "build" for the starting model
    kind: str  # technique kind, or "model"
    config: dict[str, Any]  # resolved config (Config.to_dict), {} for load
    seconds: float  # wall time of the stage (training, calibration, ...), not measurement
    artifact: str | None  # artifact directory, relative to the run directory
    model_dir: str | None  # saved model directory (what --resume starts from), relative
    measure: Measurement | None = None
    layers: list[LayerRow] = dataclasses.field(default_factory=list)
    sensitivity: Sensitivity | None = None
    train_losses: list[float] = dataclasses.field(default_factory=list)  # per logged step
    # optimizer steps per second of the training loop once running (from the end of its
    # first step to the end of its last): what a hand-written loop is compared against
    steps_per_second: float | None = None


@dataclasses.dataclass
class PeerRow:
    """A model made by another tool (ORT quantize_dynamic, Optimum, ...), measured alike."""

    name: str
    measure: Measurement
    note: str = ""


@dataclasses.dataclass
class TargetResult:
    name: str  # "max_bytes" | "max_latency_ms" | "min_teacher_fraction" | ...
    limit: float
    value: float | None  # measured; None when it could not be measured
    met: bool
    detail: str = ""  # e.g. "0.982 of the teacher's 0.875"


@dataclasses.dataclass
class TaskInfo:
    name: str
    kind: str
    primary_metric: str
    higher_is_better: bool
    split: str
    label_names: list[str] | None = None


@dataclasses.dataclass
class MachineInfo:
    cpu: str
    cores: int
    threads: int  # intra-op threads used for latency
    python: str
    versions: dict[str, str]  # package -> version (tinyai, torch, onnxruntime, ...)

    @classmethod
    def current(cls, threads: int = 1) -> MachineInfo:
        from importlib import metadata

        versions = {}
        for package in ("tinyai", "torch", "onnxruntime", "onnx", "transformers", "numpy"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                continue
        return cls(cpu_model(), os.cpu_count() or 1, threads, platform.python_version(), versions)


@dataclasses.dataclass
class RunMetrics:
    recipe: dict[str, Any]
    task: TaskInfo
    machine: MachineInfo
    stages: list[StageRecord] = dataclasses.field(default_factory=list)
    peers: list[PeerRow] = dataclasses.field(default_factory=list)
    targets: list[TargetResult] = dataclasses.field(default_factory=list)
    teacher_stage: int = 0
    final_stage: int | None = None
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = METRICS_FILE) -> RunMetrics:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ConfigError(f"{where} is not a tinyai run's metrics file ({SCHEMA})")
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ConfigError(
                f"{where} has schema version {data['schema_version']}, this tinyai reads up to "
                f"{SCHEMA_VERSION}; upgrade tinyai"
            )
        return _build(cls, data, where)

    def teacher(self) -> StageRecord | None:
        return next((s for s in self.stages if s.index == self.teacher_stage), None)

    def final(self) -> StageRecord | None:
        if self.final_stage is None:
            return None
        return next((s for s in self.stages if s.index == self.final_stage), None)


_NESTED: dict[tuple[str, str], type] = {
    ("RunMetrics", "task"): TaskInfo,
    ("RunMetrics", "machine"): MachineInfo,
    ("RunMetrics", "stages"): StageRecord,
    ("RunMetrics", "peers"): PeerRow,
    ("RunMetrics", "targets"): TargetResult,
    ("StageRecord", "measure"): Measurement,
    ("StageRecord", "layers"): LayerRow,
    ("StageRecord", "sensitivity"): Sensitivity,
    ("PeerRow", "measure"): Measurement,
}


def read_metrics(run_dir: str | Path) -> RunMetrics:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} has no {METRICS_FILE}; pass a run directory that tinyai compress wrote"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path} ({exc}); re-run tinyai compress") from None
    return RunMetrics.from_dict(data, str(path))


def cpu_model() -> str:
    """The CPU's model name (figures move between CPUs; a table must say which)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
