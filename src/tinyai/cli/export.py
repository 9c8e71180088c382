"""`tinyai export MODEL OUT --task TASK`: write the on-device artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def export(
    model: str = typer.Argument(
        ..., help="A tinyai model directory, a Hugging Face directory or a short name."
    ),
    out: Path = typer.Argument(
        ..., help="Artifact directory to write (replaced if it holds an artifact)."
    ),
    task: str = typer.Option(
        ..., "--task", "-t", help="Task name, e.g. sst2, fashion-mnist, shakespeare."
    ),
    exporter: str = typer.Option("auto", help="auto, dynamo or torchscript."),
    opset: int | None = typer.Option(None, help="ONNX opset (default: the exporter's)."),
    verify: bool = typer.Option(True, help="Compare the artifact with PyTorch on example inputs."),
    history: Path | None = typer.Option(
        None,
        help="JSON list of what was done to the model (default: MODEL/history.json if present).",
    ),
    evaluate: bool = typer.Option(
        False, "--evaluate", help="Score the artifact on the task and record it."
    ),
    limit: int | None = typer.Option(
        None, help="With --evaluate: only the first N held-out examples."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace OUT even when files were added to the artifact there "
        "(never a folder that is not a tinyai artifact).",
    ),
) -> None:
    """Export MODEL for TASK to an artifact directory (ONNX + preprocessing + manifest)."""
    from tinyai.export import ExportConfig
    from tinyai.export import export as export_artifact
    from tinyai.models import load_model
    from tinyai.runtime import read_manifest

    loaded = load_model(model)
    config = ExportConfig(exporter=exporter, opset=opset, verify=verify)
    path = export_artifact(
        loaded, out, task=task_for(task, model), config=config, history=_history(history, model),
        force=force,
    )
    if evaluate:
        from tinyai.measure.evaluate import evaluate as evaluate_artifact
        from tinyai.runtime.manifest import update_manifest

        result = evaluate_artifact(path, task, limit=limit)
        update_manifest(path, evaluation=result)
    manifest = read_manifest(path)
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    files = manifest["files"]
    total = sum(f["bytes"] for f in files.values()) + (path / "manifest.json").stat().st_size
    typer.echo(f"wrote {path}: {total:,} bytes in {len(files) + 1} files (manifest included)")
    check = manifest.get("export_check")
    if check:
        typer.echo(f"parity vs PyTorch: max |diff| = {check['max_abs_diff']:.3g}")
    if evaluate:
        metrics = manifest["evaluation"]["metrics"]
        typer.echo("artifact metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


def task_for(name: str, model: str) -> Any:
    """The task; text tasks use the model directory's tokenizer when it has one."""
    from tinyai.errors import ConfigError
    from tinyai.tasks import get_task

    model_dir = Path(model)
    if (model_dir / "tokenizer.json").is_file():
        try:
            return get_task(name, tokenizer=str(model_dir))
        except ConfigError:  # a non-text task takes no tokenizer option
            pass
    return get_task(name)


def _history(path: Path | None, model: str) -> list[dict[str, Any]]:
    from tinyai.errors import ConfigError

    candidate = path or Path(model) / "history.json"
    if not candidate.is_file():
        if path is not None:
            raise ConfigError(f"history file {path} does not exist")
        return []
    try:
        data = json.loads(candidate.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{candidate} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ConfigError(f"{candidate} must hold a JSON list of stage records")
    return data


def register(app: typer.Typer) -> None:
    app.command()(export)
