"""The models a run starts from: the teacher (loaded or built), fitted to the task, and the
student a distill stage trains.

A pretrained encoder gets the task's head (a classifier or a score over its pooled output);
a classifier whose label count differs gets a fresh output layer; a built architecture takes
the task's shapes (classes, channels, image size, mel bins, frames, vocabulary) for every
field its recipe `config` leaves unset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from tinyai.config import Config, unknown_key_message
from tinyai.errors import ConfigError


def architectures() -> dict[str, type[Config]]:
    """Built-in architecture name -> its config class (what `arch:` and `--arch` accept)."""
    from tinyai.models import (
        CharLMConfig,
        CharTransformerConfig,
        FashionCNNConfig,
        KwsDSCNNConfig,
        KwsResNetConfig,
        LeNet5Config,
        LeNet300100Config,
    )

    return {
        "fashion-cnn": FashionCNNConfig,
        "lenet5": LeNet5Config,
        "lenet-300-100": LeNet300100Config,
        "kws-dscnn": KwsDSCNNConfig,
        "kws-resnet": KwsResNetConfig,
        "char-rnn": CharLMConfig,
        "char-transformer": CharTransformerConfig,
    }


def build_architecture(arch: str, fields: dict[str, Any], task: Any, seed: int,
                       where: str = "arch") -> nn.Module:
    """A fresh model of `arch` sized for `task`; its weights are seeded."""
    import torch

    from tinyai.models import build_model

    known = architectures()
    if arch not in known:
        raise ConfigError(f"{where}: {unknown_key_message(arch, known, 'architectures')}"
                          .replace("unknown key", "unknown architecture"))
    config_cls = known[arch]
    values = {**_task_fields(config_cls, task), **fields}
    config = config_cls.from_dict(values, f"{where}.config" if fields else where)
    torch.manual_seed(seed)
    model = build_model(config)
    kind = getattr(model, "kind", "")
    if kind and task.kind and kind != task.kind:
        raise ConfigError(f"{where}: {arch} is {_a(kind)} architecture and the task {task.name} "
                          f"is {task.kind}; choose an architecture made for {task.kind}")
    return model


def _a(kind: str) -> str:
    """'an image-classification', 'a text-classification'."""
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _task_fields(config_cls: type[Config], task: Any) -> dict[str, Any]:
    """The fields of `config_cls` that the task determines."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    out: dict[str, Any] = {}
    if "num_classes" in names and task.num_labels:
        out["num_classes"] = int(task.num_labels)
    if "vocab_size" in names and hasattr(task, "vocab_size"):
        out["vocab_size"] = int(task.vocab_size)
    example = {k: v for k, v in task.example_inputs(1).items()}
    pixels = example.get("pixel_values")
    if pixels is not None:
        if "in_channels" in names:
            out["in_channels"] = int(pixels.shape[1])
        if "image_size" in names and pixels.shape[2] == pixels.shape[3]:
            out["image_size"] = int(pixels.shape[2])
    features = example.get("features")
    if features is not None:
        if "frames" in names:
            out["frames"] = int(features.shape[1])
        if "n_mels" in names:
            out["n_mels"] = int(features.shape[2])
    return out


def load_source(model: str) -> nn.Module:
    from tinyai.models import load_model

    return load_model(model)


def fit_to_task(model: nn.Module, source: str | None, task: Any, adapt: bool = True) -> nn.Module:
    """`model` ready for `task`: an encoder gets a task head; a classifier with another label
    count gets a fresh output layer (`adapt`, when a fine-tuning stage follows; otherwise a
    mismatch is refused); anything else is used as it is."""
    from tinyai.distill import replace_head
    from tinyai.models import SentenceEncoder, TextClassifier

    kind = getattr(model, "kind", "")
    name = source or type(model).__name__
    if not adapt:
        _check_fits(model, name, task)
        return model
    if task.kind in ("text-classification", "text-regression"):
        if kind == task.kind and _labels_match(model, task):
            return model
        encoder = getattr(model, "encoder", None)
        if encoder is None:
            raise ConfigError(f"{source or type(model).__name__} is not a text encoder; a "
                              f"{task.kind} task needs one (e.g. minilm-l6)")
        labels = 1 if task.kind == "text-regression" else int(task.num_labels)
        # A sentence encoder was trained to be read through its own pooling: keep it.
        pooling = model.head_config.pooling if isinstance(model, SentenceEncoder) else "cls"
        return TextClassifier(encoder, num_labels=labels, pooling=pooling).eval()
    if kind and task.kind and kind != task.kind:
        raise ConfigError(f"{source or type(model).__name__} is {_a(kind)} model and the task "
                          f"is {task.kind}; choose a model of that kind")
    if task.num_labels and kind == task.kind and not _labels_match(model, task):
        return replace_head(model, int(task.num_labels))
    return model


def _check_fits(model: nn.Module, name: str, task: Any) -> None:
    """Refuse, in one line, a task the model was not made for (kind or label count)."""
    kind = getattr(model, "kind", "")
    if kind and kind != task.kind:
        raise ConfigError(f"{name} is {_a(kind)} model and the task {task.name} is {task.kind}; "
                          "give the task it was trained for, or fine-tune it on this one first")
    if not _labels_match(model, task):
        raise ConfigError(f"{name} outputs {_label_count(model)} classes and the task "
                          f"{task.name} has {task.num_labels}; give the task it was trained "
                          "for, or fine-tune it on this one first (tinyai finetune)")


def _label_count(model: nn.Module) -> int | None:
    head = getattr(model, "head_config", None)
    if head is not None and hasattr(head, "num_labels"):
        return int(head.num_labels)
    config = getattr(model, "config", None)
    return int(config.num_classes) if hasattr(config, "num_classes") else None


def _labels_match(model: nn.Module, task: Any) -> bool:
    if task.num_labels is None:
        return True
    config = getattr(model, "config", None)
    count = getattr(model, "head_config", None)
    if count is not None and hasattr(count, "num_labels"):
        return int(count.num_labels) == int(task.num_labels)
    if config is not None and hasattr(config, "num_classes"):
        return int(config.num_classes) == int(task.num_labels)
    return True


def pruned_student(teacher: nn.Module, config: Any, task: Any, seed: int) -> nn.Module:
    """A narrower copy of `teacher` (`tinyai.distill.pruned_copy`), traced on the task's
    example inputs; taylor importance scores one seeded training batch."""
    from tinyai.distill import pruned_copy
    from tinyai.recipe.stages import _on_device, one_batch_loss

    inputs = _on_device(task.example_inputs(1), teacher)
    loss_fn = one_batch_loss(task, seed) if config.importance == "taylor" else None
    return pruned_copy(teacher, config, inputs, loss_fn).train()


def student_from_teacher(teacher: nn.Module, spec: Any, task: Any, workdir: Path,
                         corpus: tuple[str, ...] = ()) -> tuple[nn.Module, str | None]:
    """The student `spec` describes, built from `teacher` (weights carried over), and the
    folder of its reduced tokenizer when `spec.vocab_size` asks for one (else None): the
    sub-words of the task's training text, or of the distill stage's `corpus` when given."""
    from tinyai.distill import build_student, reduce_vocab

    tokenizer_dir = None
    if spec.vocab_size is not None:
        source = getattr(task, "tokenizer_dir", None)
        if source is None:
            raise ConfigError("student.from_teacher.vocab_size reduces a text vocabulary; the "
                              "task has no tokenizer")
        if corpus:
            from tinyai.distill.corpus import corpus_sentences, held_out_sentences

            texts = corpus_sentences(corpus, exclude=held_out_sentences(task))
        else:
            data = task.dataset(task.train_split)
            texts = list(data.texts) + list(data.texts_b or [])
        vocab = reduce_vocab(source, texts, workdir / "vocab", max_size=spec.vocab_size)
        spec = spec.replace(kept_vocab=tuple(vocab.kept_ids))
        tokenizer_dir = str(vocab.tokenizer_dir)
    return build_student(teacher, spec).train(), tokenizer_dir
