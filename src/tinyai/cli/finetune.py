"""`tinyai finetune MODEL [TASK] --out DIR`: train a model on a task (a one-stage recipe).

    tinyai finetune minilm-l6 sst2 --out runs/teacher --steps 600 --bf16
    tinyai finetune minilm-l6 --data train=yelp_train.tsv,test=yelp_test.tsv --out runs/yelp
    tinyai init fashion-cnn runs/cnn --task fashion-mnist
    tinyai finetune runs/cnn fashion-mnist --out runs/cnn-trained --epochs 2 --lr 1e-3
"""

from __future__ import annotations

from pathlib import Path

import typer

from tinyai.cli import verbs


def finetune(
    model: str = typer.Argument(..., help="minilm-l6, a Hugging Face dir or a tinyai model dir."),
    task: str | None = typer.Argument(None, help="A built-in task (sst2, fashion-mnist, ...)."),
    out: Path = typer.Option(..., "--out", help="Directory for the fine-tuned model."),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    limit: int | None = verbs.LIMIT, eval_limit: int | None = verbs.EVAL_LIMIT,
    max_length: int | None = verbs.MAX_LENGTH,
    steps: int | None = verbs.STEPS, epochs: float | None = verbs.EPOCHS,
    batch_size: int | None = verbs.BATCH, lr: float | None = verbs.LR,
    bf16: bool | None = verbs.BF16, seed: int | None = verbs.SEED,
    freeze_embeddings: bool | None = typer.Option(
        None, "--freeze-embeddings/--no-freeze-embeddings", help="Text: keep embeddings fixed."),
    freeze_layers: int | None = typer.Option(None, "--freeze-layers",
                                             help="Text: freeze the lowest N layers."),
    freeze_trunk: bool | None = typer.Option(None, "--freeze-trunk/--no-freeze-trunk",
                                             help="Train only the head."),
    resume: bool = verbs.RESUME, no_bench: bool = verbs.NO_BENCH, force: bool = verbs.FORCE,
) -> None:
    """Fine-tune a pretrained (or freshly built) model on a task."""
    recipe = verbs.one_stage_recipe(
        model, verbs.task_spec(task, data, holdout, limit, eval_limit, max_length), "finetune",
        verbs.given(freeze_embeddings=freeze_embeddings, freeze_layers=freeze_layers,
                    freeze_trunk=freeze_trunk),
        train=verbs.given(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, bf16=bf16,
                          seed=seed),
        bench=not no_bench,
    )
    verbs.check_target(out, "model", force)
    metrics, stage_dir, _ = verbs.run(recipe, out, resume)
    verbs.place(stage_dir / "model", out, "model", force)
    verbs.report(metrics, out, "the fine-tuned model to")


def register(app: typer.Typer) -> None:
    app.command()(finetune)
