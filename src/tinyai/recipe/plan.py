"""`tinyai compress --dry-run`: the recipe validated, and the plan with expected sizes.

Nothing is trained. The starting model is loaded (or built), the student built from it, and
each stage's effect on size is applied to a copy where that needs no data: pruning masks and
plans, int8 / low-bit weights (static int8 and QAT store weights as dynamic int8 does). The
sizes are the PyTorch model's stored bytes (`tinyai.summary`'s packed bytes); an artifact
adds its graph, manifest and tokenizer.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from tinyai import registry
from tinyai.recipe.schema import Recipe, Stage


def plan_rows(recipe: Recipe) -> list[dict[str, Any]]:
    from tinyai.measure.summary import summary
    from tinyai.recipe.models import build_architecture, fit_to_task, load_source
    from tinyai.tasks.spec import build_task

    task = build_task(recipe.task)
    source = recipe.teacher
    if source.model is not None:
        model = fit_to_task(load_source(source.model), source.model, task)
    else:
        model = build_architecture(source.arch or "", source.config, task, recipe.seed)
    rows = [_row("0 start", source.describe(), "load" if source.model else "build", model,
                 summary, task)]
    with tempfile.TemporaryDirectory() as tmp:  # a reduced vocabulary's tokenizer lives here
        for index, stage in enumerate(recipe.stages, start=1):
            tech = registry.get(stage.technique)
            if stage.technique == "distill" and recipe.student is not None:
                model, task = _student(recipe, model, task, Path(tmp),
                                       getattr(stage.config, "corpus", ()))
            else:
                model = _size_effect(model, stage, task)
            rows.append(_row(f"{index} {stage.name}", tech.summary, stage.technique, model,
                             summary, task, _training(stage)))
    return rows


def _student(recipe: Recipe, teacher: nn.Module, task: Any, tmp: Path,
             corpus: tuple[str, ...]) -> tuple[nn.Module, Any]:
    """The student the distill stage trains, and the task as it sees it (its tokenizer)."""
    from tinyai.recipe.models import (
        build_architecture,
        fit_to_task,
        load_source,
        pruned_student,
        student_from_teacher,
    )
    from tinyai.tasks.spec import build_task

    student = recipe.student
    assert student is not None
    if student.from_teacher is not None:
        model, tokenizer = student_from_teacher(teacher, student.from_teacher, task, tmp,
                                                corpus)
        return model, build_task(recipe.task, tokenizer=tokenizer) if tokenizer else task
    if student.pruned_copy is not None:
        return pruned_student(teacher, student.pruned_copy, task, recipe.seed), task
    if student.model is not None:
        return fit_to_task(load_source(student.model), student.model, task), task
    return build_architecture(student.arch or "", student.config, task, 0), task


def _row(name: str, what: str, technique: str, model: nn.Module, summary: Any, task: Any,
         training: str = "") -> dict[str, Any]:
    # the task's own example (its max_length, its tokenizer): a model with fewer positions
    # than the summary's default example still counts its MACs
    table = summary(model, task.example_inputs(1))
    return {"stage": name, "technique": technique, "what": what, "training": training,
            "params": table.params, "nonzero": table.nonzero, "bytes": table.packed_bytes}


def _training(stage: Stage) -> str:
    train = stage.settings.train
    if train is None:
        return f"calibrate on {stage.settings.calibration}" if registry.get(
            stage.technique).needs.calibration else ""
    amount = f"{train.steps} steps" if train.steps else f"{train.epochs:g} epochs"
    return f"{amount} x {train.batch_size}, lr {train.lr:g}"


def _size_effect(model: nn.Module, stage: Stage, task: Any) -> nn.Module:
    """A copy of `model` with the stage's effect on storage (no data, no training)."""
    from tinyai.prune import MagnitudePruning, StructuredPruning, make_permanent, prune_
    from tinyai.quantize import QAT, Int8Dynamic, Int8Static, WeightOnly, quantize_

    config = stage.config
    work = copy.deepcopy(model)
    if isinstance(config, MagnitudePruning):
        return make_permanent(prune_(work, config.replace(schedule=None)))
    if isinstance(config, StructuredPruning):
        return prune_(work, config.replace(importance="l2" if config.importance == "taylor"
                                           else config.importance), task.example_inputs(1))
    if isinstance(config, Int8Static) or (isinstance(config, QAT) and config.bits == 8):
        dynamic = Int8Dynamic(include=config.include, exclude=config.exclude,
                              embedding_bits=config.embedding_bits)
        return quantize_(work, dynamic)
    if isinstance(config, QAT):
        return quantize_(work, WeightOnly(bits=config.bits, group_size=config.group_size,
                                          include=config.include, exclude=config.exclude))
    if isinstance(config, Int8Dynamic | WeightOnly):
        return quantize_(work, config)
    return work  # fine-tuning, export, weight sharing (sizes known only after clustering)


def plan_table(recipe: Recipe) -> Any:
    from rich.table import Table

    title = (f"plan for {recipe.name or 'the recipe'} on {recipe.task.name or 'your data'} "
             "(sizes: the model's stored weights; nothing trained)")
    table = Table("stage", "technique", "training", "params", "non-zero", "est. bytes",
                  title=title)
    for row in plan_rows(recipe):
        table.add_row(row["stage"], row["technique"], row["training"], f"{row['params']:,}",
                      f"{row['nonzero']:,}", f"{row['bytes']:,}")
    return table
