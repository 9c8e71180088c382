"""The recipe: a whole compression job in one YAML file, parsed into typed configs.

    version: 1
    task: {name: sst2, max_length: 64}            # or just `sst2`, or data: {train: my.tsv}
    teacher: minilm-l6                            # or {model: DIR} / {arch: fashion-cnn}
                                                  # or {given: true}: your own nn.Module,
                                                  # run_recipe(..., teacher=module)
    student:                                      # optional: what `distill` trains
      from_teacher: {layers: [0, 5], hidden_size: 256, vocab_size: 8000}
      # or, for any architecture: pruned_copy: {ratio: 0.5}
    stages:
      - finetune: {freeze_layers: 2}              # technique name: its config
        train: {steps: 600, lr: 8.0e-5, bf16: true}
      - distill: {temperature: 2.0, augment: {copies: 2}}
        train: {steps: 3000, lr: 1.0e-3, batch_size: 64}
      - magnitude-pruning: {sparsity: 0.5, schedule: {end_step: 400}}
        train: {steps: 500}                       # prune while fine-tuning ...
        teacher: {temperature: 2.0}               # ... on the teacher's soft targets
      - int8-static: {observer: minmax}
        calibration: 512                          # examples between prepare and convert
      - export: {}
    targets: {max_bytes: 2000000, max_latency_ms: 2.0, min_teacher_fraction: 0.97}
    # or relative to the teacher's artifact: min_size_ratio: 60

Every mapping is one of the library's config dataclasses (`TaskSpec`, `FinetuneConfig`,
`TrainConfig`, `StudentSpec`, ...): recipe keys are their field names and the defaults are
theirs, written once. Unknown keys are errors with the closest valid key suggested, and every
error names its path (``stages[2].magnitude-pruning.sparsity: must be in [0, 1), got 1.5``).
`Recipe.to_dict()` is the recipe with every default resolved, as the runner writes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from tinyai.config import Config, unknown_key_message
from tinyai.distill.core import SoftTargets
from tinyai.distill.students import StudentSpec
from tinyai.errors import ConfigError
from tinyai.prune.config import StructuredPruning
from tinyai.tasks.spec import TaskSpec
from tinyai.train import TrainConfig

RECIPE_VERSION = 1
STAGE_KEYS = ("train", "teacher", "calibration", "name")
# Set by the runner, which owns the loops and the run directory's checkpoints.
RUNNER_TRAIN_KEYS = ("checkpoint_dir", "checkpoint_every", "checkpoint_seconds", "resume")
TOP_KEYS = ("version", "name", "seed", "task", "teacher", "student", "stages", "targets",
            "measure")


# What `given: true` asks for, in the one-line errors (a module is passed, not named).
GIVEN_HINT = "or given: true alone for your own nn.Module, passed as run_recipe(..., {role}=module)"


@dataclasses.dataclass
class ModelSource(Config):
    """Where a model comes from: `model` (a short name such as minilm-l6, a Hugging Face
    directory or a tinyai model directory) or `arch`, a built-in architecture built from
    `config` (its config dataclass's fields) with fresh weights, to be trained by a stage;
    or `given`: an nn.Module of the caller's own code, which a recipe cannot name, passed as
    ``run_recipe(recipe, run_dir, teacher=module)`` (so such a recipe runs from Python)."""

    model: str | None = None
    arch: str | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    given: bool = False

    def __post_init__(self) -> None:
        named = [k for k in ("model", "arch") if getattr(self, k) is not None]
        if len(named) + self.given != 1:
            hint = GIVEN_HINT.format(role="teacher")
            raise ValueError("model or arch must be given, not both (a model directory or short "
                             f"name, or a built-in architecture), {hint}")
        if self.config and self.arch is None:
            raise ValueError("config sets an architecture's fields: use it with arch")

    def describe(self) -> str:
        return self.model or ("your nn.Module (given)" if self.given else f"{self.arch} (new)")


@dataclasses.dataclass
class StudentSource(Config):
    """The student a `distill` stage trains: `from_teacher` shrinks a BERT teacher (layers
    kept, widths, `vocab_size` sub-words of the task's text, factorized embeddings);
    `pruned_copy` is any teacher with fewer channels / units, by structured pruning of a copy
    (`{pruned_copy: {ratio: 0.5}}`, the keys of StructuredPruning); or `arch` / `model` /
    `given` as for the teacher (``run_recipe(..., student=module)``)."""

    from_teacher: StudentSpec | None = None
    pruned_copy: StructuredPruning | None = None
    model: str | None = None
    arch: str | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    given: bool = False

    def __post_init__(self) -> None:
        named = [k for k in ("from_teacher", "pruned_copy", "model", "arch")
                 if getattr(self, k) is not None] + (["given"] if self.given else [])
        if len(named) != 1:
            raise ValueError("exactly one of from_teacher, pruned_copy, model or arch must be "
                             f"given ({GIVEN_HINT.format(role='student')})")
        if self.config and self.arch is None:
            raise ValueError("config sets an architecture's fields: use it with arch")


@dataclasses.dataclass
class Targets(Config):
    """Goals checked on the final artifact; a missed one is reported (and fails --strict)."""

    max_bytes: int | None = None
    max_latency_ms: float | None = None
    min_teacher_fraction: float | None = None  # final metric / teacher's (direction-aware)
    min_metric: float | None = None
    # the teacher's artifact bytes / the final artifact's, both counted as max_bytes counts
    # them: "60x smaller than the teacher" without computing a byte limit by hand
    min_size_ratio: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_latency_ms", "min_teacher_fraction", "min_size_ratio"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")


@dataclasses.dataclass
class MeasureSettings(Config):
    """How each stage's artifact is measured: the held-out metric (all of the evaluation
    split, or the task's `limit` on it), and batch-1 latency in the runtime."""

    latency: bool = True
    bench_runs: int = 50
    threads: int = 1
    every_stage: bool = True  # False: measure only the teacher and the final artifact
    teacher: bool = True  # with every_stage False: measure the teacher too

    def __post_init__(self) -> None:
        if self.bench_runs < 1 or self.threads < 1:
            raise ValueError("bench_runs and threads must be >= 1")


@dataclasses.dataclass
class StageSettings(Config):
    """What surrounds a technique in a stage.

    train: the training loop's settings — the technique's own training (finetune,
        distill), training between prepare and convert (qat, weight-sharing), pruning
        while training (a scheduled magnitude-pruning), or fine-tuning after the technique.
    teacher: train on the teacher's soft targets (temperature, alpha) instead of the
        labels alone, e.g. distillation while pruning.
    calibration: training examples run through the model between prepare and convert
        (int8-static).
    name: the stage's name in reports and folders (default: the technique's).
    """

    train: TrainConfig | None = None
    teacher: SoftTargets | None = None
    calibration: int = 512
    name: str | None = None

    def __post_init__(self) -> None:
        if self.calibration < 1:
            raise ValueError(f"calibration must be >= 1 example, got {self.calibration}")


@dataclasses.dataclass
class Stage:
    technique: str
    config: Config
    settings: StageSettings

    @property
    def name(self) -> str:
        return self.settings.name or self.technique

    def to_dict(self) -> dict[str, Any]:
        body = _plain(self.config)
        body.pop("step", None)  # the runner runs prepare and convert
        settings = _plain(self.settings)
        if "train" in body:  # the technique's own training is the stage's `train:`
            settings["train"] = body.pop("train")
        if settings.get("train"):
            for key in RUNNER_TRAIN_KEYS:
                settings["train"].pop(key, None)
        out: dict[str, Any] = {self.technique: body}
        defaults = _plain(StageSettings())
        calibrates = _needs_calibration(self.technique)
        for key, value in settings.items():
            if value != defaults[key] or (key == "calibration" and calibrates):
                out[key] = value
        return out


@dataclasses.dataclass
class Recipe:
    task: TaskSpec
    teacher: ModelSource
    stages: list[Stage]
    student: StudentSource | None = None
    targets: Targets = dataclasses.field(default_factory=Targets)
    measure: MeasureSettings = dataclasses.field(default_factory=MeasureSettings)
    name: str = ""
    seed: int = 0
    version: int = RECIPE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Every default resolved: what ran, and what a re-run with the same file runs."""
        out: dict[str, Any] = {"version": self.version, "name": self.name, "seed": self.seed,
                               "task": _plain(self.task), "teacher": _source(self.teacher)}
        if self.student is not None:
            out["student"] = _source(self.student)
        out["stages"] = [s.to_dict() for s in self.stages]
        out["targets"] = _plain(self.targets)
        out["measure"] = _plain(self.measure)
        return out

    def given_roles(self) -> list[str]:
        """"teacher" / "student" where the recipe says `given: true`: the modules the caller
        passes to `run_recipe` under those keywords."""
        roles = ["teacher"] if self.teacher.given else []
        return roles + (["student"] if self.student is not None and self.student.given else [])

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None,
                              width=100)


def _plain(config: Config) -> dict[str, Any]:
    """A config as a recipe writes it: fields only, no _type/_version bookkeeping."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("_type", "_version")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(config.to_dict())


def _source(source: ModelSource | StudentSource) -> dict[str, Any]:
    """A model source as a recipe writes it; `given` only where it is set, so the recipes of
    runs started before it existed still resume (their recipe.yaml is compared)."""
    plain = _plain(source)
    if not plain.get("given"):
        plain.pop("given", None)
    return plain


def _needs_calibration(technique: str) -> bool:
    from tinyai import registry

    return registry.get(technique).needs.calibration


# ------------------------------------------------------------------ parsing
def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; data paths are taken relative to its folder."""
    import yaml

    from tinyai.paths import why_not_a_file

    path = Path(path)
    if why := why_not_a_file(path):
        raise ConfigError(f"recipe {path} {why}; give the path of a YAML recipe file "
                          "(see recipes/ for examples)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe {path} ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"recipe {path} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"recipe {path} is nested too deeply to read; a recipe is a few "
                          "levels of mappings and lists") from None
    return parse_recipe(data, base=path.resolve().parent)


def stored_recipe(path: Path) -> Any:
    """A run's stored recipe.yaml as plain data, as this tinyai reads it: a setting added
    since the run started takes its default, so comparing it with a recipe of today (resume,
    --reuse) does not see every stage differ. One this tinyai no longer accepts is returned
    as written."""
    import yaml

    data = yaml.safe_load(path.read_text())
    with contextlib.suppress(ConfigError):
        data = yaml.safe_load(parse_recipe(data).to_yaml())
    return data


def parse_recipe(data: Any, base: Path | None = None) -> Recipe:
    """A `Recipe` from the parsed YAML (or an equivalent dict)."""
    if not isinstance(data, dict):
        raise ConfigError("a recipe is a mapping with version, task, teacher and stages; "
                          f"got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(unknown_key_message(key, TOP_KEYS, "a recipe"))
    version = data.get("version")
    if version != RECIPE_VERSION:
        raise ConfigError(f"version: this tinyai reads recipe version {RECIPE_VERSION}, got "
                          f"{version!r}; add 'version: 1' at the top")
    for key in ("task", "teacher", "stages"):
        if key not in data:
            raise ConfigError(f"{key}: missing; a recipe needs task, teacher and stages")
    task = TaskSpec.coerce(data["task"], "task")
    if base is not None:
        task = task.resolved_paths(base)
    teacher = _model_source(data["teacher"], "teacher", base)
    student = (StudentSource.from_dict(data["student"], "student")
               if data.get("student") is not None else None)
    if student is not None and student.model is not None and base is not None:
        student = student.replace(model=_local(student.model, base))
    stages = _stages(data["stages"])
    recipe = Recipe(
        task=task, teacher=teacher, stages=stages, student=student,
        targets=Targets.from_dict(data.get("targets") or {}, "targets"),
        measure=MeasureSettings.from_dict(data.get("measure") or {}, "measure"),
        name=_string(data.get("name", ""), "name"), seed=_seed(data.get("seed", 0)),
    )
    check_recipe(recipe)
    return recipe


def _model_source(value: Any, where: str, base: Path | None) -> ModelSource:
    source = ModelSource(model=value) if isinstance(value, str) else ModelSource.from_dict(
        value, where)
    if source.model is not None and base is not None:
        source = source.replace(model=_local(source.model, base))
    return source


def _local(model: str, base: Path) -> str:
    """A relative model directory is relative to the recipe's folder; short names stay."""
    candidate = base / Path(model).expanduser()
    return str(candidate.resolve()) if candidate.is_dir() else model


def _stages(value: Any) -> list[Stage]:
    if not isinstance(value, list) or not value:
        raise ConfigError("stages: must be a non-empty list, e.g. [{finetune: {}}, "
                          "{int8-dynamic: {}}]")
    return [parse_stage(item, f"stages[{i}]") for i, item in enumerate(value)]


def parse_stage(item: Any, where: str) -> Stage:
    """One stage: ``{technique-name: {config}, train: ..., teacher: ..., ...}``."""
    from tinyai import registry

    if isinstance(item, str):
        item = {item: {}}
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: a stage is a mapping like {{int8-dynamic: {{}}}}, got "
                          f"{type(item).__name__}")
    names = [k for k in item if k not in STAGE_KEYS]
    if len(names) != 1:
        known = [t.name for t in registry.techniques()]
        if not names:
            raise ConfigError(f"{where}: names no technique; start it with one of "
                              f"{', '.join(known)}")
        techniques = [n for n in names if n in known]
        if len(techniques) == 1:  # one technique and a misspelt stage key (`trian:`)
            typo = next(str(n) for n in names if n not in known)
            raise ConfigError(f"{where}: {unknown_key_message(typo, list(STAGE_KEYS), 'a stage')}")
        raise ConfigError(f"{where}: names {len(names)} techniques ({', '.join(map(str, names))}"
                          f"); one per stage (stage keys: {', '.join(STAGE_KEYS)})")
    name = str(names[0])
    try:
        tech = registry.get(name)
    except ConfigError:
        known = [t.name for t in registry.techniques()] + list(STAGE_KEYS)
        raise ConfigError(f"{where}: {unknown_key_message(name, known, 'a stage')}") from None
    body = item[name] if item[name] is not None else {}
    if isinstance(body, dict) and "train" in body and "train" in item:
        raise ConfigError(f"{where}: train is given twice; keep the stage's train only")
    if isinstance(body, dict) and "train" in body:
        raise ConfigError(f"{where}.{name}.train: put training settings in the stage's own "
                          f"`train:` (beside `{name}:`), the same for every stage")
    if isinstance(body, dict) and "step" in body:
        raise ConfigError(f"{where}.{name}.step: the runner runs prepare, then calibration or "
                          "training, then convert; drop step")
    train = item.get("train")
    if isinstance(train, dict):
        for key in RUNNER_TRAIN_KEYS:
            if key in train:
                raise ConfigError(f"{where}.train.{key}: set by the runner (checkpoints live in "
                                  "the run directory; use tinyai compress --resume); drop it")
    config = tech.config_cls.from_dict(body, f"{where}.{name}")
    settings = StageSettings.from_dict({k: v for k, v in item.items() if k != name}, where)
    if _has_train_field(tech.config_cls):
        # One place for training settings in a recipe: the stage's `train:`.
        config = config.replace(train=settings.train or config.train)  # type: ignore[attr-defined]
        settings = settings.replace(train=config.train)  # type: ignore[attr-defined]
    return Stage(name, config, settings)


def check_recipe(recipe: Recipe) -> None:
    """What the types alone cannot say: stages that need what the recipe does not give."""
    from tinyai import registry

    for i, stage in enumerate(recipe.stages):
        where = f"stages[{i}]"
        tech = registry.get(stage.technique)
        trains_itself = _has_train_field(tech.config_cls)
        training = stage.settings.train is not None
        if tech.needs.training == "required" and not training:
            raise ConfigError(f"{where}.train: {stage.technique} trains between prepare and "
                              "convert; give the stage train: {steps: N}")
        if _scheduled(stage.config) and not training:
            raise ConfigError(f"{where}.train: a scheduled magnitude-pruning prunes while "
                              "training; give the stage train: {steps: N}")
        if training and tech.needs.training == "none" and not trains_itself:
            raise ConfigError(f"{where}.train: {stage.technique} does not train; drop train")
        if stage.settings.teacher is not None and not training:
            raise ConfigError(f"{where}.teacher: soft targets are a training loss; give the "
                              "stage train settings too")
        if stage.technique == "distill" and recipe.student is None:
            raise ConfigError(f"{where}: distill trains a student; add a top-level student: "
                              "(from_teacher: {layers: [...]} or arch: ...)")
        if stage.technique == "export" and i != len(recipe.stages) - 1:
            raise ConfigError(f"{where}: export configures the final artifact; make it the "
                              "last stage")
    _check_arch(recipe.teacher.arch, "teacher.arch")
    if recipe.student is not None:
        _check_arch(recipe.student.arch, "student.arch")
    if recipe.student is not None and not any(s.technique == "distill" for s in recipe.stages):
        raise ConfigError("student: no distill stage trains it; add a distill stage or drop "
                          "student")


def _check_arch(arch: str | None, where: str) -> None:
    from tinyai.recipe.models import architectures

    if arch is not None and arch not in architectures():
        message = unknown_key_message(arch, architectures(), "architectures")
        raise ConfigError(f"{where}: {message.replace('unknown key', 'unknown architecture')}")


def _has_train_field(config_cls: type) -> bool:
    return any(f.name == "train" for f in dataclasses.fields(config_cls))


def _scheduled(config: Config) -> bool:
    return getattr(config, "schedule", None) is not None


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _seed(value: Any) -> int:
    from tinyai.train import MAX_SEED

    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"seed: expected a whole number in [0, {MAX_SEED}], got {value!r}")
    return value
