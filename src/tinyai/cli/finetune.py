"""`tinyai finetune MODEL TASK --out DIR`: transfer learning onto a task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

STEPS = typer.Option(0, help="Optimizer steps (0: use --epochs).")
EPOCHS = typer.Option(1.0, help="Epochs over the train split when --steps is 0.")
BATCH = typer.Option(32, "--batch-size", help="Examples per optimizer step.")
MAX_LEN = typer.Option(128, "--max-length", help="Text: tokens per example.")
BF16 = typer.Option(False, "--bf16", help="bf16 autocast (CPU or GPU).")
CKPT = typer.Option(None, "--checkpoint-dir", help="Where checkpoints go (for --resume).")
EVERY = typer.Option(0, "--checkpoint-every", help="Save a checkpoint every N steps.")
RESUME = typer.Option(False, "--resume", help="Continue from the checkpoint at the exact step.")
SEED = typer.Option(0, help="Seed for initialisation, shuffling and dropout.")
LIMIT = typer.Option(None, "--limit", help="Use only the first N training examples.")


def train_split(task: Any, limit: int | None) -> Any:
    data = task.dataset(task.train_split)
    return data.subset(range(min(limit, len(data)))) if limit else data


def train_config(steps: int, epochs: float, lr: float, bf16: bool, checkpoint_dir: Path | None,
                 checkpoint_every: int, resume: bool, seed: int) -> Any:
    from tinyai.train import TrainConfig

    return TrainConfig(steps=steps, epochs=epochs, lr=lr, bf16=bf16, seed=seed,
                       checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
                       checkpoint_every=checkpoint_every, resume=resume)


def task_model(model_name: str, task: Any) -> Any:
    """`model_name` ready for `task`: encoders get a task head, classifiers a new head when the
    label count differs."""
    from tinyai.distill import replace_head
    from tinyai.models import TextClassifier, load_encoder, load_model

    model = load_model(model_name)
    if task.kind in ("text-classification", "text-regression"):
        if getattr(model, "kind", "") == task.kind:
            return model
        labels = 1 if task.kind == "text-regression" else task.num_labels
        return TextClassifier(load_encoder(model_name), num_labels=labels, pooling="mean")
    if task.num_labels and getattr(model, "kind", "") == task.kind:
        return model
    if task.num_labels:
        return replace_head(model, task.num_labels)
    return model


def finetune(
    model: str = typer.Argument(..., help="minilm-l6, a Hugging Face dir or a tinyai model dir."),
    task: str = typer.Argument(..., help="Task name, e.g. sst2, stsb, fashion-mnist."),
    out: Path = typer.Option(..., "--out", help="Directory for the fine-tuned model."),
    steps: int = STEPS, epochs: float = EPOCHS,
    lr: float = typer.Option(5e-5, help="Peak learning rate (AdamW, warm-up, linear decay)."),
    batch_size: int = BATCH, max_length: int = MAX_LEN,
    freeze_embeddings: bool = typer.Option(False, "--freeze-embeddings"),
    freeze_layers: int = typer.Option(0, "--freeze-layers", help="Freeze the lowest N layers."),
    freeze_trunk: bool = typer.Option(False, "--freeze-trunk", help="Train only the head."),
    bf16: bool = BF16, checkpoint_dir: Path | None = CKPT, checkpoint_every: int = EVERY,
    resume: bool = RESUME, seed: int = SEED, limit: int | None = LIMIT,
) -> None:
    """Fine-tune a pretrained model on a task (new head; optional frozen parts)."""
    from tinyai.distill import FinetuneConfig
    from tinyai.distill import finetune as run_finetune
    from tinyai.models import save_model
    from tinyai.tasks import get_task

    the_task = get_task(task)
    net = task_model(model, the_task)
    tokenizer = getattr(the_task, "tokenizer_dir", None)
    config = FinetuneConfig(
        train=train_config(steps, epochs, lr, bf16, checkpoint_dir, checkpoint_every, resume, seed),
        batch_size=batch_size, max_length=max_length, freeze_embeddings=freeze_embeddings,
        freeze_layers=freeze_layers, freeze_trunk=freeze_trunk)
    run_finetune(net, the_task, config, tokenizer=tokenizer, data=train_split(the_task, limit))
    save_model(net, out, tokenizer=tokenizer)
    typer.echo(f"saved the fine-tuned model to {out}")


def register(app: typer.Typer) -> None:
    app.command()(finetune)
