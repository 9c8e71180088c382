"""`tinyai distill TEACHER [TASK] --out DIR`: a student built from the teacher (or a given
architecture), trained to imitate it — a one-stage recipe.

    tinyai distill runs/teacher sst2 --out runs/student --layers 0,5 --hidden-size 256 \
        --vocab-size 8000 --augment 2 --steps 3000 --lr 1e-3 --batch-size 64
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyai.cli import verbs


def _ints(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        from tinyai.errors import ConfigError

        raise ConfigError(f"--layers takes comma-separated layer numbers like 0,2,4, "
                          f"not {text!r}") from None


def distill(
    teacher: str = typer.Argument(..., help="The teacher: a tinyai model dir (from finetune)."),
    task: str | None = typer.Argument(None, help="Task whose train split is the transfer set."),
    out: Path = typer.Option(..., "--out", help="Directory for the student."),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    limit: int | None = verbs.LIMIT, eval_limit: int | None = verbs.EVAL_LIMIT,
    max_length: int | None = verbs.MAX_LENGTH,
    layers: str | None = typer.Option(None, help="Teacher layers the student keeps, e.g. 0,2,4."),
    hidden_size: int | None = typer.Option(None, "--hidden-size", help="Narrower width."),
    intermediate_size: int | None = typer.Option(None, "--intermediate-size", help="FFN size."),
    embedding_size: int | None = typer.Option(None, "--embedding-size",
                                              help="Factorized embeddings of this width."),
    vocab_size: int | None = typer.Option(None, "--vocab-size",
                                          help="Reduce the vocabulary to the task's N sub-words."),
    arch: str | None = typer.Option(None, "--arch", help="A built-in student architecture "
                                    "instead of a student built from the teacher."),
    temperature: float | None = typer.Option(None, help="Soft-target temperature (default 2)."),
    alpha: float | None = typer.Option(None, help="Weight of soft targets (default 0.5)."),
    layer_weight: float | None = typer.Option(None, "--layer-weight",
                                              help="TinyBERT layer losses (default 0)."),
    attention: bool | None = typer.Option(None, "--attention/--no-attention",
                                          help="With layer losses: attention-map MSE."),
    augment: int | None = typer.Option(None, help="Augmented copies per training sentence."),
    steps: int | None = verbs.STEPS, epochs: float | None = verbs.EPOCHS,
    batch_size: int | None = verbs.BATCH, lr: float | None = verbs.LR,
    bf16: bool | None = verbs.BF16, seed: int | None = verbs.SEED,
    resume: bool = verbs.RESUME, no_bench: bool = verbs.NO_BENCH, force: bool = verbs.FORCE,
) -> None:
    """Distill TEACHER into a smaller student on TASK's training data."""
    student: dict[str, Any]
    if arch is not None:
        student = {"arch": arch}
    else:
        student = {"from_teacher": verbs.given(
            layers=_ints(layers), hidden_size=hidden_size, intermediate_size=intermediate_size,
            embedding_size=embedding_size, vocab_size=vocab_size)}
    config = verbs.given(temperature=temperature, alpha=alpha, layer_weight=layer_weight,
                         attention=attention)
    if augment:
        config["augment"] = {"copies": augment}
    recipe = verbs.one_stage_recipe(
        teacher, verbs.task_spec(task, data, holdout, limit, eval_limit, max_length, teacher),
        "distill",
        config, train=verbs.given(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                                  bf16=bf16, seed=seed),
        student=student, bench=not no_bench, measure_start=True)
    verbs.check_target(out, "model", force)
    metrics, stage_dir, _ = verbs.run(recipe, out, resume)
    verbs.place(stage_dir / "model", out, "model", force)
    verbs.report(metrics, out, "the student to")


def register(app: typer.Typer) -> None:
    app.command()(distill)
