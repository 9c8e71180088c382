"""`tinyai evaluate MODEL_OR_ARTIFACT`: score it on a task's held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def evaluate(
    target: str = typer.Argument(
        ..., help="An artifact directory, or a model directory / short name."
    ),
    task: str | None = typer.Option(
        None, "--task", "-t", help="Task name (default: the artifact's)."
    ),
    split: str | None = typer.Option(None, help="Split (default: the task's held-out split)."),
    limit: int | None = typer.Option(None, min=1, help="Only the first N examples."),
    batch_size: int = typer.Option(32, min=1),
    threads: int = typer.Option(1, min=1, help="onnxruntime intra-op threads (artifacts)."),
    record: bool = typer.Option(
        False, "--record", help="Store the result in the artifact's manifest."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score an artifact (through the torch-free runtime) or a PyTorch model on a task."""
    from tinyai.errors import ConfigError
    from tinyai.measure.evaluate import evaluate as run_evaluate
    from tinyai.runtime.manifest import MANIFEST_NAME, update_manifest

    is_artifact = (Path(target) / MANIFEST_NAME).is_file()
    if is_artifact:
        result = run_evaluate(target, task, split, limit, batch_size, threads)
        if record:
            update_manifest(target, evaluation=result)
    else:
        if task is None:
            raise ConfigError("evaluating a PyTorch model needs --task")
        if record:
            raise ConfigError("--record stores results in an artifact; export the model first")
        from tinyai.cli.export import task_for
        from tinyai.models import load_model

        result = run_evaluate(load_model(target), task_for(task, target), split, limit, batch_size)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items())
    typer.echo(
        f"{result['task']} {result['split']} ({result['examples']} examples, "
        f"{result['source']}): {metrics}"
    )


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
