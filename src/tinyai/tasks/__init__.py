"""Tasks: what to feed a model, what it should output, and how to score it.

``get_task(name, **kwargs)`` builds one of TASK_NAMES. Every task has the same interface
(tinyai.tasks.base.Task), so training, distillation, evaluation and export never
special-case a task. Keyword arguments per task:

- sst2, cola, mrpc, stsb, stsb-embed: ``tokenizer`` (HF fast tokenizer or a local dir;
  default: the packaged all-MiniLM-L6-v2 one), ``max_length`` (default 128)
- fashion-mnist: ``normalization`` (ImageNormalization or its dict)
- speech-commands: ``features`` (AudioFeatures or its dict; default KWS_MFCC), ``classes``
  (subset of the 12)
- shakespeare: ``seq_len`` (default 128), ``vocab``

Your own data: ``get_task(kind, data={"train": ..., "test": ...}, **options)`` with kind one
of text-classification, text-regression, image-classification, audio-classification (see
tinyai.tasks.custom), or array-classification, array-regression, array-lm for your own
tensors (.npz / .npy / .safetensors files or arrays in memory; see tinyai.tasks.arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinyai.errors import ConfigError
from tinyai.tasks.base import Task

TASK_NAMES = (
    "sst2",
    "cola",
    "mrpc",
    "stsb",
    "stsb-embed",
    "fashion-mnist",
    "speech-commands",
    "shakespeare",
)


def _text_classification(glue: str, primary: str) -> Callable[..., Task]:
    def build(**kwargs: Any) -> Task:
        from tinyai.tasks.text import TextClassificationTask

        return TextClassificationTask(glue, primary_metric=primary, **kwargs)

    return build


def _lazy(module: str, cls: str) -> Callable[..., Task]:
    def build(**kwargs: Any) -> Task:
        import importlib

        return getattr(importlib.import_module(module), cls)(**kwargs)

    return build


_FACTORIES: dict[str, Callable[..., Task]] = {
    "sst2": _text_classification("sst2", "accuracy"),
    "cola": _text_classification("cola", "matthews"),
    "mrpc": _text_classification("mrpc", "f1"),
    "stsb": _lazy("tinyai.tasks.text", "TextRegressionTask"),
    "stsb-embed": _lazy("tinyai.tasks.text", "SentenceEmbeddingTask"),
    "fashion-mnist": _lazy("tinyai.tasks.vision_audio", "ImageClassificationTask"),
    "speech-commands": _lazy("tinyai.tasks.vision_audio", "AudioClassificationTask"),
    "shakespeare": _lazy("tinyai.tasks.charlm", "CharLMTask"),
}


def get_task(name: str, **kwargs: Any) -> Task:
    """The task called `name` (one of TASK_NAMES), configured by keyword arguments."""
    factory = _FACTORIES.get(name)
    if factory is None and "data" in kwargs:
        from tinyai.tasks.custom import custom_task

        factory = lambda **kw: custom_task(name, **kw)  # noqa: E731
    if factory is None:
        raise ConfigError(
            f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}, or a task kind "
            "with data={split: path} for your own data"
        )
    try:
        task = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad option for task {name}: {exc}") from None
    if name not in _FACTORIES:
        task.spec = _spec_of_files(name, kwargs)
    return task


def _spec_of_files(kind: str, options: dict[str, Any]) -> Any:
    """The `TaskSpec` of a task on the user's files (absolute paths), so an artifact made
    from it can be scored on that data again; None for arrays in memory or other options."""
    from pathlib import Path

    from tinyai.tasks.spec import TaskSpec

    data, rest = options.get("data"), {k: v for k, v in options.items() if k != "data"}
    files = isinstance(data, dict) and all(isinstance(v, str | Path) for v in data.values())
    if not files or set(rest) - {"max_length", "image_size"}:
        return None
    paths = {str(k): str(Path(v).resolve()) for k, v in data.items()}
    return TaskSpec(data=paths, kind=kind, **rest)


__all__ = ["TASK_NAMES", "Task", "get_task"]
