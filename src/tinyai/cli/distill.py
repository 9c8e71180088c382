"""`tinyai distill TEACHER TASK --out DIR`: a smaller student built from the teacher, trained
to imitate it (soft targets; optionally TinyBERT layer losses, a reduced vocabulary and
augmented text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyai.cli.finetune import (
    BATCH,
    BF16,
    CKPT,
    EPOCHS,
    EVERY,
    LIMIT,
    MAX_LEN,
    RESUME,
    SEED,
    STEPS,
    train_config,
    train_split,
)


def _ints(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        from tinyai.errors import ConfigError

        raise ConfigError(f"--layers takes comma-separated layer numbers like 0,2,4, "
                          f"not {text!r}") from None


def _transfer_data(task: Any, augment: int, limit: int | None) -> Any:
    """The task's train split, plus `augment` perturbed copies per sentence (unlabelled)."""
    dataset = train_split(task, limit)
    if not augment or not hasattr(dataset, "texts") or dataset.texts_b is not None:
        return dataset
    import numpy as np

    from tinyai.data import TextDataset
    from tinyai.distill import AugmentConfig, augment_texts
    from tinyai.distill.losses import IGNORE

    extra = augment_texts(dataset.texts, AugmentConfig(copies=augment))
    unknown = np.full(len(extra), np.nan if task.kind == "text-regression" else IGNORE)
    labels = np.concatenate([dataset.labels, unknown.astype(dataset.labels.dtype)])
    return TextDataset(dataset.name + "+aug", dataset.texts + extra, None, labels,
                       dataset.label_names)


def distill(
    teacher: str = typer.Argument(..., help="The teacher: a tinyai model dir (from finetune)."),
    task: str = typer.Argument(..., help="Task whose train split is the transfer set."),
    out: Path = typer.Option(..., "--out", help="Directory for the student."),
    layers: str | None = typer.Option(None, help="Teacher layers the student keeps, e.g. 0,2,4."),
    hidden_size: int | None = typer.Option(None, "--hidden-size", help="Narrower width."),
    intermediate_size: int | None = typer.Option(None, "--intermediate-size", help="FFN size."),
    vocab_size: int | None = typer.Option(None, "--vocab-size",
                                          help="Reduce the vocabulary to the task's N sub-words."),
    temperature: float = typer.Option(2.0, help="Softmax temperature of the soft targets."),
    alpha: float = typer.Option(0.5, help="Weight of soft targets (1 - alpha: hard labels)."),
    layer_weight: float = typer.Option(0.0, "--layer-weight", help="TinyBERT layer losses."),
    attention: bool = typer.Option(False, "--attention", help="With layer losses: attention MSE."),
    augment: int = typer.Option(0, help="Augmented copies per training sentence."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Cache teacher outputs here."),
    steps: int = STEPS, epochs: float = EPOCHS,
    lr: float = typer.Option(1e-4, help="Peak learning rate."),
    batch_size: int = BATCH, max_length: int = MAX_LEN, bf16: bool = BF16,
    checkpoint_dir: Path | None = CKPT, checkpoint_every: int = EVERY, resume: bool = RESUME,
    seed: int = SEED, limit: int | None = LIMIT,
) -> None:
    """Distill TEACHER into a student built from it, on TASK's training data."""
    from tinyai.distill import (
        DistillConfig,
        StudentSpec,
        build_student,
        reduce_vocab,
        use_eager_attention,
    )
    from tinyai.distill import distill as run_distill
    from tinyai.models import load_model, save_model
    from tinyai.tasks import get_task

    net = load_model(teacher)
    the_task = get_task(task)
    tokenizer = str(Path(teacher)) if (Path(teacher) / "tokenizer.json").is_file() else None
    tokenizer = tokenizer or getattr(the_task, "tokenizer_dir", None)
    student_tokenizer, kept = tokenizer, None
    if vocab_size:
        data = the_task.dataset(the_task.train_split)
        vocab = reduce_vocab(tokenizer, data.texts + (data.texts_b or []), out / "reduced-vocab",
                             max_size=vocab_size)
        student_tokenizer, kept = vocab.tokenizer_dir, tuple(vocab.kept_ids)
    spec = StudentSpec(layers=_ints(layers), hidden_size=hidden_size,
                       intermediate_size=intermediate_size, kept_vocab=kept)
    student = build_student(net, spec)
    if attention:
        use_eager_attention(net)
        use_eager_attention(student)
    config = DistillConfig(
        train=train_config(steps, epochs, lr, bf16, checkpoint_dir, checkpoint_every, resume, seed),
        batch_size=batch_size, max_length=max_length, temperature=temperature, alpha=alpha,
        layer_weight=layer_weight, attention=attention,
        cache_dir=str(cache_dir) if cache_dir else None)
    run_distill(student, net, _transfer_data(the_task, augment, limit), config,
                tokenizer=student_tokenizer,
                teacher_tokenizer=tokenizer if vocab_size else None)
    save_model(student, out, tokenizer=student_tokenizer)
    typer.echo(f"saved the student to {out}")


def register(app: typer.Typer) -> None:
    app.command()(distill)
