"""`tinyai init ARCH DIR --task TASK`: a built-in architecture with fresh weights, sized for
the task, saved as a model directory to train with `tinyai finetune`.

    tinyai init fashion-cnn runs/cnn --task fashion-mnist --config channels=16,32
    tinyai init kws-dscnn runs/kws --task speech-commands
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tinyai.cli import verbs


def _fields(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values read as YAML (a comma makes a list: channels=16,32)."""
    import yaml

    from tinyai.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--config takes KEY=VALUE (e.g. channels=16,32), not {pair!r}")
        text = f"[{value}]" if "," in value and not value.startswith("[") else value
        try:
            out[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--config {key}: cannot read the value {value!r}") from None
    return out


def init(
    arch: str = typer.Argument(..., help="fashion-cnn, lenet5, lenet-300-100, kws-dscnn, ..."),
    out: Path = typer.Argument(..., help="The model directory to write."),
    task: str | None = typer.Option(None, "--task", "-t", help="The task it is for."),
    data: str | None = verbs.DATA,
    config: Annotated[list[str] | None, typer.Option(
        "--config", help="An architecture field, KEY=VALUE (repeatable).")] = None,
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Seed of the initial weights."),
    force: bool = verbs.FORCE,
) -> None:
    """Build ARCH for TASK with fresh weights and save it to OUT."""
    import tempfile

    from tinyai.history import Step
    from tinyai.models import save_model
    from tinyai.recipe.models import build_architecture
    from tinyai.tasks.spec import TaskSpec, build_task

    verbs.check_target(out, "model", force)
    spec = TaskSpec.from_dict(verbs.task_spec(task, data), "task")
    the_task = build_task(spec)
    model = build_architecture(arch, _fields(config or []), the_task, seed, "arch")
    step = Step("build", "model", model.config.to_dict(), source=arch)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        # the task is recorded, so export / evaluate refuse one it was not built for
        save_model(model, Path(tmp) / "model", history=[step], task=the_task)
        verbs.place(Path(tmp) / "model", out, "model", force)
    params = sum(p.numel() for p in model.parameters())
    typer.echo(f"wrote a new {arch} ({params:,} parameters, untrained) to {out}; train it with "
               f"tinyai finetune {out} {task or '--data ...'} --out DIR")


def register(app: typer.Typer) -> None:
    app.command()(init)
