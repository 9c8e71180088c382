"""Run a recipe: every stage in order, each saved, exported and measured, resumable.

    RUN_DIR/
      recipe.yaml           the recipe with every default resolved (what ran)
      metrics.json          one record per stage, measured on its artifact (records.py)
      report.html           the report drawn from metrics.json (+ each chart as SVG and PNG)
      artifact/             the final artifact
      stages/NN-NAME/       model/ (the saved model), artifact/, checkpoints/, done.json

A stage is finished when its ``done.json`` exists (written last). ``resume=True`` loads the
last finished stage's saved model and continues with the next one; a stage that was
interrupted starts again from the previous stage's model and its training resumes from
its last checkpoint, at the exact step. Every intermediate model round-trips through its
saved form, so a resumed run ends where an uninterrupted one would.

A recipe whose teacher or student says ``given: true`` runs a module of the caller's own
code, passed as ``run_recipe(recipe, run_dir, teacher=module)`` (a recipe file cannot name
code: nothing named in a file is ever imported). The run works on copies, so the module
passed is left as it is; its stage directories load into copies of it (``load_model(DIR,
into=...)``), which is how ``resume=True`` continues such a run.
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from tinyai import atomic, registry
from tinyai.errors import ConfigError, Interrupted
from tinyai.history import Step, history_dicts
from tinyai.recipe.records import (
    METRICS_FILE,
    MachineInfo,
    Measurement,
    RunMetrics,
    StageRecord,
    TargetResult,
    TaskInfo,
)
from tinyai.recipe.schema import (
    RUNNER_TRAIN_KEYS,
    ModelSource,
    Recipe,
    Stage,
    parse_recipe,
    stored_recipe,
)
from tinyai.recipe.stages import RunEnv, execute_stage
from tinyai.train import TrainConfig

RECIPE_FILE = "recipe.yaml"
STAGES_DIR = "stages"
DONE_FILE = "done.json"
FINAL_ARTIFACT = "artifact"

Say = Callable[[str], None]


def run_recipe(recipe: Recipe, run_dir: str | Path, resume: bool = False, force: bool = False,
               say: Say | None = None, reuse: str | Path | None = None, *,
               teacher: nn.Module | None = None,
               student: nn.Module | None = None) -> RunMetrics:
    """Run `recipe` into `run_dir` and return its metrics (also in run_dir/metrics.json).

    `reuse`: an earlier run directory whose finished stages this recipe begins with (the
    same teacher stage, say); a new run starts after them (see `tinyai.recipe.reuse`).
    `teacher` / `student`: your own nn.Modules, for a recipe whose teacher / student says
    ``given: true`` (left as they are: the run trains copies). The same modules, freshly
    built, are passed again with ``resume=True``."""
    given = _given_modules(recipe, {"teacher": teacher, "student": student})
    run = _Run(recipe, Path(run_dir), resume, force, say or (lambda text: None))
    run.reuse = Path(reuse) if reuse is not None else None
    run.given = given
    return run.execute()


def _given_modules(recipe: Recipe, passed: dict[str, nn.Module | None]) -> dict[str, nn.Module]:
    """The modules passed for the recipe's `given: true` models, as private copies (the run
    never changes the caller's); a missing or unasked-for one is a one-line error."""
    wanted = recipe.given_roles()
    for role, module in passed.items():
        if role in wanted and module is None:
            raise ConfigError(f"the recipe's {role} is given: true; pass your module: "
                              f"tinyai.compress(recipe, run_dir, {role}=module)")
        if role not in wanted and module is not None:
            source = getattr(recipe, role)
            what = source.describe() if isinstance(source, ModelSource) else (
                "not given" if source is not None else "absent")
            raise ConfigError(f"{role}= was passed, but the recipe's {role} is {what}; write "
                              f"{role}: {{given: true}} in the recipe to run your module")
        if module is not None and not isinstance(module, nn.Module):
            raise ConfigError(f"{role}= takes an nn.Module, got {type(module).__name__}")
    return {role: copy.deepcopy(m) for role, m in passed.items() if m is not None}


def compress(recipe: Recipe | str | Path | dict[str, Any], run_dir: str | Path, *,
             teacher: nn.Module | None = None, student: nn.Module | None = None,
             resume: bool = False, force: bool = False) -> RunMetrics:
    """`tinyai compress` from Python: `recipe` is a YAML file, its parsed mapping or a
    `Recipe`; `teacher` / `student` are your own modules for ``given: true`` (run_recipe)."""
    from tinyai.recipe.schema import load_recipe

    if isinstance(recipe, str | Path):
        recipe = load_recipe(recipe)
    elif isinstance(recipe, dict):
        recipe = parse_recipe(recipe)
    return run_recipe(recipe, run_dir, resume=resume, force=force, teacher=teacher,
                      student=student)


def teacher_index(recipe: Recipe) -> int:
    """The stage whose model is the teacher: the one before the first distill stage, else
    the last of the leading fine-tuning stages (0: the model as loaded)."""
    for i, stage in enumerate(recipe.stages, start=1):
        if stage.technique == "distill":
            return i - 1
    index = 0
    for i, stage in enumerate(recipe.stages, start=1):
        if registry.get(stage.technique).kind != "transfer":
            break
        index = i
    return index


def is_run_dir(path: Path) -> bool:
    """A directory `tinyai compress` wrote (and nothing else: only its own entries)."""
    # (FINAL_ARTIFACT.partial: the final artifact's copy, when a kill cut it short)
    own = {RECIPE_FILE, METRICS_FILE, STAGES_DIR, FINAL_ARTIFACT, FINAL_ARTIFACT + ".partial"}
    entries = {p.name for p in path.iterdir()} if path.is_dir() else set()
    report_files = {n for n in entries if n.startswith("report") or n.endswith((".png", ".svg"))}
    return RECIPE_FILE in entries and not (entries - own - report_files)


class _Run:
    def __init__(self, recipe: Recipe, run_dir: Path, resume: bool, force: bool,
                 say: Say) -> None:
        self.recipe, self.dir, self.resume, self.force, self.say = recipe, run_dir, resume, \
            force, say
        self.teacher_stage = teacher_index(recipe)
        self.last = len(recipe.stages)
        self.history: list[Step] = []
        self.current = "the start"  # what Ctrl-C interrupts, for its message
        self.reuse: Path | None = None
        self.reusable = -1  # how many stages of `reuse` this run starts with (`_check_dir`)
        self.given: dict[str, nn.Module] = {}  # role -> the caller's module, a private copy

    # -------------------------------------------------------------- the run
    def execute(self) -> RunMetrics:
        """Every check a user's input can fail (the run directory, the task's data, the
        starting model against the task) comes before the run directory is written, so a
        bad input leaves nothing behind; Ctrl-C anywhere keeps what is finished."""
        self._check_dir()
        from tinyai.tasks.spec import build_task

        task = build_task(self.recipe.task, tokenizer=_source_tokenizer(self.recipe))
        if self.reuse is not None and not self.resume:
            # Seeded before the metrics are read and stage 0 is built: the run is then a
            # resume of the stages it was given, their records and models included.
            self._create_dir()
        env = RunEnv(task=task, teacher_task=task, resume=self.resume, seed=self.recipe.seed)
        self.metrics = self._load_metrics() if self.resume else None
        self.metrics = self.metrics or RunMetrics(
            recipe=self.recipe.to_dict(), task=_task_info(task),
            machine=MachineInfo.current(self.recipe.measure.threads),
            teacher_stage=self.teacher_stage)
        try:
            with _CtrlC() as ctrl_c:
                model = self._start(env)
                for index, stage in enumerate(self.recipe.stages, start=1):
                    ctrl_c.check()
                    if index - 1 == self.teacher_stage:
                        env.teacher = self._keep_teacher(model, index)
                    self.current = f"stage {index} ({stage.name})"
                    model = self._stage(index, stage, model, env)
                ctrl_c.check()
                self.current = "the final artifact"
                self._finish()
        except KeyboardInterrupt:  # outside training (train() saves and raises Interrupted)
            if not (self.dir / RECIPE_FILE).is_file():
                raise Interrupted("interrupted before the run started; nothing was saved") \
                    from None
            raise Interrupted(f"interrupted during {self.current}; every finished stage and "
                              f"the last training checkpoint are kept in {self.dir}: run the "
                              "same command with --resume to continue") from None
        return self.metrics

    def _keep_teacher(self, model: nn.Module, index: int) -> nn.Module:
        """The teacher for later stages. Stages change their model in place, so a stage that
        trains on the teacher's soft targets needs a copy taken before (distill trains a new
        student and leaves the model it starts from alone)."""
        later = self.recipe.stages[index - 1:]
        needs_copy = any(s.settings.teacher is not None and s.technique != "distill"
                         for s in later)
        return copy.deepcopy(model).eval() if needs_copy else model

    def _check_dir(self) -> None:
        """Refuse a run directory this run may not use, before any work."""
        recipe_file = self.dir / RECIPE_FILE
        if self.resume:
            if not recipe_file.is_file():
                raise ConfigError(f"{self.dir} holds no run to resume (no {RECIPE_FILE}); run "
                                  "without --resume")
            _same_recipe(recipe_file, self.recipe)
            # Only the targets may differ: record the ones this resume checks.
            atomic.write_text(recipe_file, self.recipe.to_yaml())
            return
        if self.reuse is not None:
            from tinyai.recipe.reuse import reusable_stages

            self.reusable = reusable_stages(self.recipe, self.reuse)
        if self.dir.exists() and (not self.dir.is_dir() or any(self.dir.iterdir())):
            if not is_run_dir(self.dir):
                raise ConfigError(f"{self.dir} exists and is not a tinyai run directory; choose "
                                  "a new or empty output directory")
            if not self.force:
                raise ConfigError(f"{self.dir} holds an earlier run; add --resume to continue "
                                  "it, or --force to start it over")
        atomic.check_writable(self.dir, ConfigError)

    def _create_dir(self) -> None:
        """Start the run directory: once the task and the starting model are known good."""
        if self.dir.exists() and any(self.dir.iterdir()):  # an earlier run, with --force
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.dir / RECIPE_FILE, self.recipe.to_yaml())
        if self.reuse is not None:
            from tinyai.recipe.reuse import reuse_stages

            reuse_stages(self.recipe, self.dir, self.reuse, self.reusable)
            self.say(f"reusing stages 0-{self.reusable} of {self.reuse}")
            self.resume = True  # the run continues after the stages it was given

    def _start(self, env: RunEnv) -> nn.Module:
        """Stage 0: the model the recipe starts from, fitted to the task."""
        from tinyai.recipe.models import build_architecture, fit_to_task, load_source

        source = self.recipe.teacher
        folder = self._stage_dir(0, "start")
        if self._done(folder):
            model = self._load(folder, 0)
            self._note_step(folder)
            return model
        atomic.kill_point("stage-0")
        start = time.perf_counter()
        if source.given:
            model = _given_copy(self.given["teacher"], env.task, "teacher")
            fits = True  # the caller's module, made for the task: measured as a loaded one
            given = _class_name(model)
            step = Step("load", "model", {"given": given}, source=f"given {given}")
        elif source.model is not None:
            loaded = load_source(source.model)
            adapt = registry.get(self.recipe.stages[0].technique).kind == "transfer"
            model = fit_to_task(loaded, source.model, env.task, adapt=adapt)
            fits = model is loaded
            step = Step("load", "model", {"model": source.model}, source=source.model)
            self.history = _source_history(source.model)
        else:
            assert source.arch is not None
            model = build_architecture(source.arch, source.config, env.task, self.recipe.seed,
                                       "teacher")
            fits = False  # freshly initialised weights: nothing to measure yet
            step = Step("build", "model", model.config.to_dict(), source=source.arch)  # type: ignore[union-attr]
        self.say(f"[0/{self.last}] start: {step.source if source.given else source.describe()}")
        step.seconds = round(time.perf_counter() - start, 3)
        name = "teacher" if self.teacher_stage == 0 else "start"
        record = StageRecord(0, name, step.technique, "model", step.config, step.seconds,
                             None, None)
        settings = self.recipe.measure
        measure = fits and (settings.every_stage or (self.teacher_stage == 0 and settings.teacher))
        if not self.resume:
            self._create_dir()
        self._save_stage(0, folder, model, env, record, step, measure)
        return model

    def _stage(self, index: int, stage: Stage, model: nn.Module, env: RunEnv) -> nn.Module:
        folder = self._stage_dir(index, stage.name)
        tech = registry.get(stage.technique)
        if self._done(folder):
            self.say(f"[{index}/{self.last}] {stage.name}: finished earlier, loaded")
            model = self._load(folder, index)
            self._note_step(folder)
            if stage.technique == "distill":
                self._use_student_tokenizer(env, self._reduced_tokenizer(folder))
            return model
        self.say(f"[{index}/{self.last}] {stage.name}: {tech.summary}")
        atomic.kill_point(f"stage-{index}")
        if stage.technique == "distill":
            self._build_student(model, env, folder, getattr(stage.config, "corpus", ()))
        model, outcome = execute_stage(model, stage, env, folder)
        applied = _as_recorded(outcome.config)
        step = Step(stage.technique, tech.kind, applied,
                    seconds=round(outcome.seconds, 3))
        record = StageRecord(index, stage.name, stage.technique, tech.kind,
                             applied, round(outcome.seconds, 3), None, None,
                             train_losses=[round(x, 6) for x in outcome.losses],
                             steps_per_second=outcome.steps_per_second)
        if outcome.sensitivity is not None:
            record.sensitivity = outcome.sensitivity.to_record()
        if stage.technique == "distill":
            self._use_student_tokenizer(env, env.student_tokenizer)
            env.student = None
        settings = self.recipe.measure
        measure = settings.every_stage or index == self.last or (
            index == self.teacher_stage and settings.teacher)
        self._save_stage(index, folder, model, env, record, step, measure, stage)
        return model

    def _build_student(self, teacher: nn.Module, env: RunEnv, folder: Path,
                       corpus: tuple[str, ...] = ()) -> None:
        from tinyai.recipe.models import (
            build_architecture,
            fit_to_task,
            load_source,
            pruned_student,
            student_from_teacher,
        )

        source = self.recipe.student
        assert source is not None
        folder.mkdir(parents=True, exist_ok=True)
        if source.from_teacher is not None:
            env.student, env.student_tokenizer = student_from_teacher(
                teacher, source.from_teacher, env.task, folder, corpus)
        elif source.pruned_copy is not None:
            env.student = pruned_student(teacher, source.pruned_copy, env.task, self.recipe.seed)
        elif source.given:
            env.student = _given_copy(self.given["student"], env.task, "student").train()
        elif source.model is not None:
            env.student = fit_to_task(load_source(source.model), source.model, env.task)
        else:
            assert source.arch is not None
            env.student = build_architecture(source.arch, source.config, env.task,
                                             self.recipe.seed, "student")

    def _use_student_tokenizer(self, env: RunEnv, tokenizer: str | None) -> None:
        """After a distill stage with a reduced vocabulary the task tokenizes with the
        student's tokenizer for every later stage, export and measurement."""
        from tinyai.tasks.spec import build_task

        if tokenizer is not None:
            env.task = build_task(self.recipe.task, tokenizer=tokenizer)
        env.student_tokenizer = None

    def _reduced_tokenizer(self, folder: Path) -> str | None:
        source = self.recipe.student
        reduced = source is not None and source.from_teacher is not None and \
            source.from_teacher.vocab_size is not None
        return str(folder / "model") if reduced else None

    # -------------------------------------------------------------- saving and measuring
    def _save_stage(self, index: int, folder: Path, model: nn.Module, env: RunEnv,
                    record: StageRecord, step: Step, measure: bool,
                    stage: Stage | None = None) -> None:
        from tinyai.export import ExportConfig, export

        folder.mkdir(parents=True, exist_ok=True)
        if step.technique != "load" or not self.history:
            self.history.append(step)
        export_now = measure or index == self.last
        if export_now:
            atomic.kill_point(f"export-{index}")
            config = stage.config if stage is not None and stage.technique == "export" else None
            assert config is None or isinstance(config, ExportConfig)
            artifact = export(model, folder / "artifact", env.task, config=config,
                              history=history_dicts(self.history), seeds=run_seeds(self.recipe))
            record.artifact = str(artifact.relative_to(self.dir))
        if measure:
            atomic.kill_point(f"measure-{index}")
            record.measure, record.layers = self._measure(folder / "artifact", model, env)
            _record_in_artifact(folder / "artifact", self.history, step, record.measure)
            self._say_measure(index, record.measure)
        # After the measurement, so the model's history carries this step's figures too.
        self._save_model(model, folder / "model", env)
        record.model_dir = str((folder / "model").relative_to(self.dir))
        atomic.write_text(folder / "history.json",
                          json.dumps(history_dicts(self.history), indent=1) + "\n")
        self._record(record)
        atomic.kill_point(f"done-{index}")
        atomic.write_text(folder / DONE_FILE, json.dumps({"index": index}) + "\n")

    def _save_model(self, model: nn.Module, target: Path, env: RunEnv) -> None:
        from tinyai.models import save_model

        tokenizer = getattr(env.task, "tokenizer_dir", None) if env.student_tokenizer is None \
            else env.student_tokenizer
        save_model(model, target, tokenizer=tokenizer, history=self.history, task=env.task)

    def _measure(self, artifact: Path, model: nn.Module, env: RunEnv) -> tuple[Any, Any]:
        from tinyai.measure.stage import measure_artifact

        settings = self.recipe.measure
        return measure_artifact(artifact, env.task, model, latency=settings.latency,
                                bench_runs=settings.bench_runs, threads=settings.threads)

    def _say_measure(self, index: int, m: Measurement) -> None:
        metric = self.metrics.task.primary_metric
        parts = [f"{metric} {m.metric:.4f}" if m.metric is not None else f"{metric} —",
                 f"{m.bytes:,} B" if m.bytes is not None else "",
                 f"{m.latency_ms:.3f} ms" if m.latency_ms is not None else ""]
        self.say(f"      measured on the artifact: {', '.join(p for p in parts if p)}")

    def _load(self, folder: Path, index: int) -> nn.Module:
        """A finished stage's model; one of the caller's own class loads into a copy of the
        module it descends from (a directory never names code that is run)."""
        from tinyai.models import load_model

        origin = self._given_origin(index)
        into = copy.deepcopy(origin) if origin is not None else None
        return load_model(folder / "model", into=into)

    def _given_origin(self, index: int) -> nn.Module | None:
        """The given module stage `index`'s model was made from, or None (tinyai's own): the
        student's from a distill stage on (a pruned copy of a given teacher is of the
        teacher's class), the teacher's before."""
        distill = next((i for i, s in enumerate(self.recipe.stages, start=1)
                        if s.technique == "distill"), None)
        student = self.recipe.student
        if distill is None or index < distill or student is None:
            return self.given.get("teacher")
        if student.given:
            return self.given["student"]
        return self.given.get("teacher") if student.pruned_copy is not None else None

    def _note_step(self, folder: Path) -> None:
        """On resume: the finished stage's history is the run's history so far."""
        from tinyai.history import read_history

        self.history = read_history(folder)

    # -------------------------------------------------------------- records
    def _record(self, record: StageRecord) -> None:
        stages = [s for s in self.metrics.stages if s.index != record.index]
        self.metrics.stages = sorted([*stages, record], key=lambda s: s.index)
        self._write_metrics()

    def _write_metrics(self) -> None:
        atomic.write_text(self.dir / METRICS_FILE,
                          json.dumps(self.metrics.to_dict(), indent=1) + "\n")

    def _load_metrics(self) -> RunMetrics | None:
        from tinyai.recipe.records import read_metrics

        if not (self.dir / METRICS_FILE).is_file():
            return None
        metrics = read_metrics(self.dir)
        done = {int(json.loads((p / DONE_FILE).read_text())["index"])
                for p in (self.dir / STAGES_DIR).glob("*") if (p / DONE_FILE).is_file()}
        metrics.stages = [s for s in metrics.stages if s.index in done]
        return metrics

    def _finish(self) -> None:
        atomic.kill_point("finish")
        final = self._stage_dir(self.last, self.recipe.stages[-1].name) / "artifact"
        target = self.dir / FINAL_ARTIFACT
        staging = self.dir / (FINAL_ARTIFACT + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(final, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        self.metrics.final_stage = self.last
        self.metrics.targets = check_targets(self.recipe, self.metrics)
        self._write_metrics()
        from tinyai.report import write_report

        write_report([self.dir], self.dir)

    def _stage_dir(self, index: int, name: str) -> Path:
        return self.dir / STAGES_DIR / f"{index:02d}-{name}"

    def _done(self, folder: Path) -> bool:
        return self.resume and (folder / DONE_FILE).is_file() and (folder / "model").is_dir()


def _class_name(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _given_copy(module: nn.Module, task: Any, role: str) -> nn.Module:
    """A copy of the caller's `module` to run the recipe on, checked to take the task's
    inputs (before the run directory is written: a module that cannot run leaves nothing)."""
    import torch

    from tinyai.models.calling import call_model

    model = copy.deepcopy(module)
    was_training = model.training
    try:
        with torch.no_grad():
            call_model(model.eval(), task.example_inputs(1))
    except Exception as exc:  # the user's own code: any failure is the user's to see, in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"the given {role} ({_class_name(model)}) does not run on the task's "
                          f"inputs ({type(exc).__name__}: {first}); give a module made for "
                          f"{task.name}") from None
    return model.train(was_training)


def _source_tokenizer(recipe: Recipe) -> str | None:
    """A model directory that carries its own tokenizer (a reduced vocabulary, say) is read
    with it: the task tokenizes for that model."""
    from tinyai.models.hf import has_tokenizer

    model = recipe.teacher.model
    if model is None or not Path(model).is_dir() or not has_tokenizer(Path(model)):
        return None
    return model if recipe.task.name is None or recipe.task.name in _TEXT_TASKS else None


_TEXT_TASKS = ("sst2", "cola", "mrpc", "stsb", "stsb-embed")


def _source_history(model: str) -> list[Step]:
    """What was done to a tinyai model directory before this run (its history.json)."""
    from tinyai.history import read_history

    return read_history(model) if Path(model).is_dir() else []


def _same_recipe(recipe_file: Path, recipe: Recipe) -> None:
    """Resume only the run this recipe started: the first key that differs is named. The
    targets may change: they are checked on the final artifact, not trained toward."""
    import yaml

    stored = stored_recipe(recipe_file)
    now = yaml.safe_load(recipe.to_yaml())
    for both in (stored, now):
        if isinstance(both, dict):
            both.pop("targets", None)
    difference = _first_difference(stored, now, "")
    if difference is not None:
        raise ConfigError(f"the recipe changed since this run started ({difference or 'top'} "
                          "differs); resume with the same recipe, or start a new run")


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b else path


def _as_recorded(config: Any) -> dict[str, Any]:
    """A stage's applied config as history and metrics.json keep it: without the runner's
    checkpoint bookkeeping (the run directory's path, resume or not), which says nothing
    about the model and would make a resumed or relocated run record something else."""
    train = getattr(config, "train", None)
    if isinstance(train, TrainConfig):
        defaults = TrainConfig()
        config = config.replace(train=train.replace(
            **{k: getattr(defaults, k) for k in RUNNER_TRAIN_KEYS}))
    return config.to_dict()


def run_seeds(recipe: Recipe) -> dict[str, int]:
    """Every seed a run uses: the recipe's (initial weights, calibration sample), the task's
    (held-out split) and each training stage's (shuffling, dropout)."""
    seeds = {"recipe": recipe.seed, "task": recipe.task.seed}
    for i, stage in enumerate(recipe.stages):
        if stage.settings.train is not None:
            seeds[f"stages[{i}].train"] = stage.settings.train.seed
    return seeds


def _task_info(task: Any) -> TaskInfo:
    return TaskInfo(task.name, task.kind, task.primary_metric, bool(task.higher_is_better),
                    task.eval_split, task.label_names)


def _record_in_artifact(artifact: Path, history: list[Step], step: Step,
                        m: Measurement) -> None:
    """Seal the measured figures into the artifact's manifest: the history's last step
    (`step`) gets its metrics, `metrics` the held-out scores and the parity check. Latencies
    stay in metrics.json: the manifest holds no clock readings (same model, same bytes)."""
    from tinyai.export import without_clock
    from tinyai.runtime.manifest import update_manifest
    from tinyai.runtime.size import artifact_bytes

    measured = {"metrics": m.metrics, "examples": m.examples,
                "parity_max_abs_diff": m.parity_max_abs_diff}
    # Writing the step's bytes into the manifest changes the artifact's bytes: repeat until
    # the recorded figure is the sealed artifact's (the digit count settles at once).
    for _ in range(4):
        step.metrics = _step_metrics(m)
        update_manifest(artifact, history=[without_clock(s) for s in history_dicts(history)],
                        metrics={k: v for k, v in measured.items() if v is not None})
        now = artifact_bytes(artifact)
        if now == m.bytes:
            break
        m.bytes = now
    m.bytes_without_tokenizer = artifact_bytes(artifact, tokenizer=False)


def _step_metrics(m: Measurement) -> dict[str, Any]:
    return {k: v for k, v in {"metric": m.metric, "bytes": m.bytes, "latency_ms": m.latency_ms,
                              "params": m.params}.items() if v is not None}


def check_targets(recipe: Recipe, metrics: RunMetrics) -> list[TargetResult]:
    """Each recipe target, met or missed, on the final stage (ratios to the teacher)."""
    targets = recipe.targets
    final, teacher = metrics.final(), metrics.teacher()
    m = final.measure if final is not None else None
    results = []

    def add(name: str, limit: float, value: float | None, met: bool, detail: str = "") -> None:
        results.append(TargetResult(name, limit, value, met, detail))

    if targets.max_bytes is not None:
        value = m.bytes if m else None
        add("max_bytes", targets.max_bytes, value, value is not None and value <= targets.max_bytes)
    if targets.max_latency_ms is not None:
        value = m.latency_ms if m else None
        add("max_latency_ms", targets.max_latency_ms, value,
            value is not None and value <= targets.max_latency_ms)
    if targets.min_metric is not None:
        value = m.metric if m else None
        higher = metrics.task.higher_is_better
        ok = value is not None and (value >= targets.min_metric if higher
                                    else value <= targets.min_metric)
        add("min_metric", targets.min_metric, value, ok)
    if targets.min_teacher_fraction is not None:
        t = teacher.measure.metric if teacher is not None and teacher.measure else None
        value = None
        if m is not None and m.metric is not None and t:
            value = m.metric / t if metrics.task.higher_is_better else t / m.metric
        detail = f"{m.metric:.4f} vs the teacher's {t:.4f}" if value is not None else \
            "the teacher was not measured"
        add("min_teacher_fraction", targets.min_teacher_fraction, value,
            value is not None and value >= targets.min_teacher_fraction, detail)
    if targets.min_size_ratio is not None:
        t_bytes = teacher.measure.bytes if teacher is not None and teacher.measure else None
        value = t_bytes / m.bytes if t_bytes and m is not None and m.bytes else None
        detail = f"{m.bytes:,} vs the teacher's {t_bytes:,} B" if value is not None else \
            "the teacher was not measured"
        add("min_size_ratio", targets.min_size_ratio, value,
            value is not None and value >= targets.min_size_ratio, detail)
    return results


class _CtrlC:
    """Ctrl-C raises KeyboardInterrupt as usual and also leaves a flag, read between stages.

    Python drops an exception raised inside a finalizer (a `__del__` or weakref callback runs
    wherever the collector fires, ONNX Runtime and torch objects have them) and prints
    "Exception ignored in ..."; a Ctrl-C landing there would be lost and the run go on to the
    end. Only in the main thread, where Python delivers signals.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        # A run started with SIGINT ignored (a background job of a script) stays deaf to it.
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
