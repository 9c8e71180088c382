"""`tinyai evaluate MODEL_OR_ARTIFACT`: score it on a task's held-out split.

An artifact is scored on its own task: a built-in one by name, or the user data it was made
from (its manifest records the data spec); `--task` / `--data` override that, and a task
whose kind or labels differ from the artifact's is refused. A model directory is refused a
task it was not fitted to the same way (`tinyai.recipe.models.fit_to_task`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tinyai.cli import verbs


def evaluate(
    target: str = typer.Argument(
        ..., help="An artifact directory, or a model directory / short name."
    ),
    task: str | None = typer.Option(
        None, "--task", "-t", help="Task name (default: the one the artifact or model records)."
    ),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    max_length: int | None = verbs.MAX_LENGTH,
    split: str | None = typer.Option(None, help="Split (default: the task's held-out split)."),
    limit: int | None = typer.Option(None, help="Only the first N examples."),
    batch_size: int = typer.Option(32, help="Examples per batch."),
    threads: int = typer.Option(1, help="onnxruntime intra-op threads (artifacts)."),
    record: bool = typer.Option(
        False, "--record", help="Store the result in the artifact's manifest."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score an artifact (through the torch-free runtime) or a PyTorch model on a task."""
    from tinyai.errors import ConfigError
    from tinyai.measure.evaluate import evaluate as run_evaluate
    from tinyai.runtime.manifest import MANIFEST_NAME, read_manifest, update_manifest

    for name, value in (("--limit", limit), ("--batch-size", batch_size),
                        ("--threads", threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    is_artifact = (Path(target) / MANIFEST_NAME).is_file()
    if is_artifact:
        manifest = read_manifest(target)
        the_task = _artifact_task(manifest, target, task, data, holdout, max_length)
        _check_labels(manifest, the_task, target)
        result = run_evaluate(target, the_task, split, limit, batch_size, threads)
        if record:
            update_manifest(target, evaluation=result)
    else:
        if record:
            raise ConfigError("--record stores results in an artifact; export the model first")
        from tinyai.recipe.models import fit_to_task, load_source
        from tinyai.tasks.spec import TaskSpec, build_task

        model = load_source(target)  # first: a missing model is the problem to name
        spec = TaskSpec.from_dict(
            verbs.task_spec(task, data, holdout, None, None, max_length, target), "task")
        the_task = build_task(spec, tokenizer=_own_tokenizer(target))
        fit_to_task(model, target, the_task, adapt=False)
        result = run_evaluate(model, the_task, split, limit, batch_size)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items())
    typer.echo(
        f"{result['task']} {result['split']} ({result['examples']} examples, "
        f"{result['source']}): {metrics}"
    )


def _artifact_task(manifest: dict[str, Any], target: str, task: str | None, data: str | None,
                   holdout: float | None, max_length: int | None) -> Any:
    """The task to score an artifact on: the one given, else the one it records."""
    from tinyai.tasks.spec import TaskSpec, build_task

    if task is not None or data is not None:
        spec = TaskSpec.from_dict(verbs.task_spec(task, data, holdout, None, None, max_length),
                                  "task")
    elif isinstance(manifest.get("task_spec"), dict):
        spec = TaskSpec.from_dict(manifest["task_spec"], "manifest.task_spec")
    else:
        from tinyai.measure.evaluate import refuse_data_given_in_memory

        refuse_data_given_in_memory(target, str(manifest["task"]))
        spec = TaskSpec(name=str(manifest["task"]))
    return build_task(spec)


def _check_labels(manifest: dict[str, Any], task: Any, target: str) -> None:
    from tinyai.errors import ConfigError

    mine, theirs = manifest.get("label_names"), task.label_names
    if mine and theirs and list(mine) != list(theirs):
        raise ConfigError(f"artifact {target} predicts {mine}, the task {task.name} has labels "
                          f"{theirs}; score it on the task it was made for")


def _own_tokenizer(target: str) -> str | None:
    from tinyai.models.hf import has_tokenizer

    path = Path(target)
    return target if path.is_dir() and has_tokenizer(path) else None


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
