"""Run one stage: the technique's handler, fed what it declared it needs.

The runner owns every loop. For a multi-step technique (a config with a ``step`` field) it
runs ``prepare``, then feeds calibration batches (int8-static) and/or trains with the
stage's `train` settings (qat, weight-sharing), then ``convert``. A one-step technique runs
once; it may call the runner's training loop itself (a scheduled magnitude-pruning prunes
while training), and otherwise, when the stage gives `train` settings, the runner fine-tunes
after it. Training uses the task's loss, or the teacher's soft targets when the stage says
`teacher:`. Finetune and distill carry their training in their own configs; the runner only
points their checkpoints into the run directory.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tinyai import registry
from tinyai.config import Config
from tinyai.errors import ConfigError
from tinyai.models.calling import call_model
from tinyai.recipe.schema import Stage
from tinyai.train import TrainConfig, TrainHooks

# A long stage loses at most about a minute to a kill; TINYAI_CHECKPOINT_SECONDS changes the
# cadence (tests that kill a run need checkpoints within seconds).
CHECKPOINT_SECONDS = 60.0


@dataclasses.dataclass
class RunEnv:
    """What the stages of one run share."""

    task: Any  # the task, tokenized for the current model
    teacher_task: Any  # the task as the teacher sees it (its tokenizer)
    teacher: nn.Module | None = None
    resume: bool = False
    seed: int = 0
    student: nn.Module | None = None  # built by the runner for the distill stage
    student_tokenizer: str | None = None  # a reduced vocabulary's tokenizer folder


@dataclasses.dataclass
class StageOutcome:
    config: Config  # as applied (e.g. with the bits a budget chose)
    seconds: float
    losses: list[float]
    steps_per_second: float | None = None
    sensitivity: Any = None  # a tinyai.measure.sensitivity.SensitivityTable


def execute_stage(model: nn.Module, stage: Stage, env: RunEnv, stage_dir: Path) -> tuple[
        nn.Module, StageOutcome]:
    tech = registry.get(stage.technique)
    start = time.perf_counter()
    losses = LossLog(stage_dir / LOSSES_FILE, env.resume)
    times: list[float] = []
    config = _with_runner_training(stage.config, stage_dir, env.resume)
    trained = [False]
    ctx = _context(model, stage, tech.needs, env, stage_dir, losses, times, trained)
    if tech.multi_step:
        model = tech.handler(model, config.replace(step="prepare"), ctx)  # type: ignore[attr-defined]
        if tech.needs.calibration:
            calibrate(model, env.task, stage.settings.calibration, env.seed)
        if ctx.train is not None:
            ctx.train(model)
        model = tech.handler(model, config.replace(step="convert"), ctx)  # type: ignore[attr-defined]
    else:
        model = tech.handler(model, config, ctx)
        if ctx.train is not None and not trained[0]:
            ctx.train(model)  # fine-tune after the technique (e.g. recover from pruning)
    if tech.finalize is not None:
        model = tech.finalize(model)
    # What the recipe asked for (or what the handler resolved it to), without the run
    # directory's checkpoint paths: the history travels in the artifact's manifest.
    applied = ctx.report.get("resolved_config", stage.config)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else None
    outcome = StageOutcome(applied, time.perf_counter() - start, losses.values(), rate,
                           ctx.report.get("sensitivity"))
    return model, outcome


LOSSES_FILE = "losses.txt"


class LossLog:
    """Each optimizer step's loss, in a file beside the stage's checkpoints: a resumed
    training reports the steps after its checkpoint, and the file holds those before, so
    an interrupted stage records the same losses as an uninterrupted one. A step reported
    again (recomputed after a resume) replaces the earlier value."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path, self.losses = path, dict[int, float]()
        if resume and path.is_file():
            for line in path.read_text().splitlines():
                step, _, loss = line.partition(" ")
                if step.isdigit() and loss:  # a line cut short by a kill is skipped
                    self.losses[int(step)] = float(loss)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def __call__(self, step: int, loss: float) -> None:
        if step <= next(reversed(self.losses), 0):  # where a resumed training starts again
            self.losses = {s: v for s, v in self.losses.items() if s < step}
        self.losses[step] = loss
        with self.path.open("a") as fh:
            fh.write(f"{step} {loss!r}\n")

    def values(self) -> list[float]:
        return [self.losses[s] for s in sorted(self.losses)]


def _has_train(config: Config) -> bool:
    return isinstance(getattr(config, "train", None), TrainConfig)


def runner_train_config(train: TrainConfig, stage_dir: Path, resume: bool) -> TrainConfig:
    """The stage's training settings with checkpoints in the run directory."""
    seconds = float(os.environ.get("TINYAI_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS))
    return train.replace(checkpoint_dir=str(stage_dir / "checkpoints"),
                         checkpoint_seconds=seconds, resume=resume)


def _with_runner_training(config: Config, stage_dir: Path, resume: bool) -> Config:
    if _has_train(config):
        return config.replace(train=runner_train_config(config.train, stage_dir, resume))  # type: ignore[attr-defined]
    return config


def _context(model: nn.Module, stage: Stage, needs: registry.Needs, env: RunEnv,
             stage_dir: Path, losses: LossLog, times: list[float],
             trained: list[bool]) -> registry.StageContext:
    task = env.task

    def after_step(step: int, loss: float) -> None:
        losses(step, loss)
        times.append(time.perf_counter())  # steady-state steps/s for the stage record

    record = TrainHooks(after_step=after_step)
    ctx = registry.StageContext(task=task, teacher=env.teacher, workdir=stage_dir,
                                student=env.student, tokenizer=env.student_tokenizer,
                                hooks=record)
    if needs.example_inputs:
        ctx.example_inputs = _on_device(task.example_inputs(1), model)
    if needs.loss:
        ctx.loss_fn = one_batch_loss(task, env.seed)
    if needs.evaluation:
        ctx.evaluate = selection_metric(task, env.seed)
    train = stage.settings.train
    if train is not None and not _has_train(stage.config):
        train_config = runner_train_config(train, stage_dir, env.resume)
        ctx.train_config = train_config

        def run_training(m: nn.Module, hooks: TrainHooks | None = None) -> None:
            trained[0] = True
            before = hooks.before_micro_batch if hooks is not None else None
            fit(m, env, train_config, stage, TrainHooks(before, record.after_step))

        ctx.train = run_training
    return ctx


def fit(model: nn.Module, env: RunEnv, train: TrainConfig, stage: Stage,
        hooks: TrainHooks | None = None) -> None:
    """Train `model` on the task: its loss, or the teacher's soft targets (stage `teacher:`)."""
    from tinyai.distill import DistillConfig, FinetuneConfig, distill, finetune

    label = stage.name
    soft = stage.settings.teacher
    if soft is not None:
        if env.teacher is None:
            raise ConfigError(f"stage {stage.name}: teacher soft targets need a teacher; this "
                              "run has none yet")
        config = DistillConfig(train=train, temperature=soft.temperature, alpha=soft.alpha)
        teacher_tokenizer = (getattr(env.teacher_task, "tokenizer", None)
                             if env.task is not env.teacher_task else None)
        distill(model, env.teacher, env.task, config, teacher_tokenizer=teacher_tokenizer,
                hooks=hooks, label=label)
    else:
        finetune(model, env.task, FinetuneConfig(train=train), hooks=hooks, label=label)


def calibrate(model: nn.Module, task: Any, examples: int, seed: int,
              batch_size: int = 32) -> None:
    """Run `examples` training examples (a seeded sample) through the model: what static
    quantization observes between prepare and convert. The one calibration loop."""
    data = task.dataset(task.train_split).subset(training_sample(task, examples, seed))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in task.batches(data, batch_size):
            call_model(model, _on_device(task.model_inputs(batch), model))
    model.train(was_training)


def one_batch_loss(task: Any, seed: int, batch_size: int = 32) -> Any:
    """loss_fn(model): the task's loss on one seeded training batch (Taylor importance)."""
    data = task.dataset(task.train_split)
    batch = next(iter(task.batches(data, batch_size, shuffle=True, seed=seed)))

    def loss_fn(model: nn.Module) -> torch.Tensor:
        inputs = _on_device(task.model_inputs(batch), model)
        labels = {k: v for k, v in batch.items() if k not in inputs}
        return task.loss(call_model(model, inputs), {**inputs, **_on_device(labels, model)})

    return loss_fn


def training_sample(task: Any, examples: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of `examples` training examples, in the split's order."""
    size = len(task.dataset(task.train_split))
    return np.sort(np.random.default_rng(seed).permutation(size)[:min(examples, size)])


def selection_metric(task: Any, seed: int, examples: int = 2048) -> Any:
    """evaluate(model): the task's primary metric (PyTorch) on a seeded sample of its
    *training* split. A stage that chooses by a metric (mixed precision's bit-widths) must
    not choose on the split the run then reports: the choice would be fitted to that number."""
    from tinyai.measure.evaluate import evaluate

    sample = training_sample(task, examples, seed)

    def metric(model: nn.Module) -> float:
        result = evaluate(model, task, split=task.train_split, indices=sample)
        return float(result["metrics"][result["primary_metric"]])

    return metric


def _on_device(inputs: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    device = next((p.device for p in model.parameters()), None)
    if device is None:
        return dict(inputs)
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
