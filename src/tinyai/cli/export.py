"""`tinyai export MODEL OUT --task TASK`: write the on-device artifact, measured.

A one-stage recipe (`export`): the artifact keeps the model's tokenizer, preprocessing,
labels and whole history; it is scored on the held-out split through the torch-free runtime
and timed, and the parity check against PyTorch is printed. A task the model was not made
for is refused: another kind or label count, and, for a model directory that records the task
it was fitted to (task.json), other label names or input shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tinyai.cli import verbs


def export(
    model: str = typer.Argument(..., help="A tinyai model dir, a HF dir or a short name."),
    out: Path = typer.Argument(..., help="Artifact directory to write (replaced if it holds "
                               "an artifact)."),
    task: str | None = typer.Option(None, "--task", "-t", help="Task name, e.g. sst2 "
                                    "(default: the one the model records)."),
    exporter: str | None = typer.Option(None, help="auto (default), dynamo or torchscript."),
    opset: int | None = typer.Option(None, help="ONNX opset (default: the exporter's)."),
    verify: bool | None = typer.Option(None, "--verify/--no-verify",
                                       help="Compare with PyTorch on example inputs."),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    eval_limit: int | None = verbs.EVAL_LIMIT, max_length: int | None = verbs.MAX_LENGTH,
    no_bench: bool = verbs.NO_BENCH,
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    force: bool = verbs.FORCE,
) -> None:
    """Export MODEL for TASK to an artifact directory (ONNX + preprocessing + manifest)."""
    from tinyai.runtime import read_manifest

    verbs.check_target(out, "artifact", force)
    recipe = verbs.one_stage_recipe(
        model, verbs.task_spec(task, data, holdout, None, eval_limit, max_length, model), "export",
        verbs.given(exporter=exporter, opset=opset, verify=verify), bench=not no_bench)
    metrics, stage_dir, _ = verbs.run(recipe, out, resume=False)
    verbs.place(stage_dir / "artifact", out, "artifact", force)
    if as_json:
        typer.echo(json.dumps(read_manifest(out), indent=2))
        return
    verbs.report(metrics, out, "the artifact to")


def register(app: typer.Typer) -> None:
    app.command()(export)
