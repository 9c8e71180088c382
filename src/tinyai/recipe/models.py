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
    """Refuse, in one line, a task the model was not made for: another kind or label count,
    and, for a model whose directory records the task it was fitted to, other label names
    or other input shapes (image size, channels, features)."""
    from tinyai.models.dir.carried import fitted_task

    record = fitted_task(model)
    fix = _fix(record)
    kind = getattr(model, "kind", "")
    if kind and kind != task.kind:
        raise ConfigError(f"{name} is {_a(kind)} model and the task {task.name} is {task.kind}; "
                          f"{fix}")
    if not _labels_match(model, task):
        raise ConfigError(f"{name} outputs {_label_count(model)} classes and the task "
                          f"{task.name} has {task.num_labels}; {fix}")
    if record is not None:
        _check_record(record, name, task, fix)


def _fix(record: dict[str, Any] | None) -> str:
    """What to do instead: name the task the model was fitted to, when it is known."""
    fitted = f"--task {record.get('name')}" if record else "the task it was trained for"
    spec = (record or {}).get("data_spec")
    if spec:
        fitted = f"--data {_data_pairs(spec)}"
        fitted += f" --holdout {spec['holdout']:g}" if spec.get("holdout") else ""
    return f"give {fitted}, or fine-tune it on this task first (tinyai finetune)"


def _check_record(record: dict[str, Any], name: str, task: Any, fix: str) -> None:
    """Refuse `task` unless it is what `record` (the model directory's task.json) says the
    model was fitted to: same kind, same label names in the same order, same input shapes."""
    from tinyai.models.dir.carried import input_shapes

    fitted = _task_words(record.get("name"), record.get("data_spec"))
    given = _task_words(task.name, _user_data(getattr(task, "spec", None)))
    if record.get("kind") != task.kind:
        raise ConfigError(f"{name} was fitted to {fitted} ({record.get('kind')}) and the task "
                          f"is {given} ({task.kind}); {fix}")
    mine, theirs = record.get("label_names"), task.label_names
    if (list(mine) if mine else None) != (list(theirs) if theirs else None):
        raise ConfigError(f"{name} was fitted to {fitted} with labels {_names(mine)} and the "
                          f"task {given} has labels {_names(theirs)}; {fix}")
    differs = _shape_difference(record.get("inputs") or {}, input_shapes(task))
    if differs is not None:
        input_name, want, got = differs
        raise ConfigError(f"{name} was fitted to {fitted}, whose {input_name} is {want}, and the "
                          f"task {given} gives {got}; {fix}")


def _user_data(spec: Any) -> dict[str, Any] | None:
    """A task spec's fields when it is the user's own data (None for a built-in task)."""
    return spec.to_dict() if spec is not None and getattr(spec, "data", None) else None


def _task_words(name: Any, data_spec: dict[str, Any] | None) -> str:
    """'fashion-mnist', or 'your data train=/x/digits' for the user's own files."""
    if not data_spec:
        return str(name)
    return f"your data {_data_pairs(data_spec)}"


def _data_pairs(data_spec: dict[str, Any]) -> str:
    """A data spec's files as --data takes them: train=PATH,test=PATH."""
    return ",".join(f"{split}={path}" for split, path in data_spec["data"].items())


def _names(labels: Any, shown: int = 4) -> str:
    """Label names for a one-line message: the first few, and how many in all."""
    if not labels:
        return "none"
    names = [str(n) for n in labels]
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return "[" + ", ".join(names[:shown]) + more + "]"


def _shape_difference(fitted: dict[str, Any], given: dict[str, list[int | None]]
                      ) -> tuple[str, list[int | None], list[int | None]] | None:
    """The first input both tasks have whose shape differs (None matches any length)."""
    for input_name, want in fitted.items():
        got = given.get(input_name)
        if got is None:
            continue
        same = len(want) == len(got) and all(
            a is None or b is None or a == b for a, b in zip(want, got, strict=True))
        if not same:
            return input_name, list(want), got
    return None


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
