"""Tasks on the user's own data: the same task classes, with the user's splits.

``get_task("text-classification", data={"train": "train.csv", "test": "test.csv"})``:
each value is a path (loaded with tinyai.data's user loaders) or a ready dataset. The
split names are the dict's keys; the evaluation split is the first of test / dev / val /
eval present (else train). Class names come from the train split and must match in all.

- text-classification, text-regression: TSV/CSV tables; ``table`` passes load_text_table
  options (text_column, label_column, text_b_column, label_names). A text_b column makes
  it a sentence-pair task.
- image-classification: folders of images per class; ``image_size`` (h, w) resizes;
  normalisation defaults to the train split's per-channel mean and std.
- audio-classification: folders of 16 kHz mono 16-bit wavs per class.
- array-classification, array-regression, array-lm: the user's own tensors (.npz, .npy,
  .safetensors files or arrays in memory; see tinyai.tasks.arrays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyai.data.user import load_audio_folder, load_image_folder, load_text_table
from tinyai.errors import ConfigError, DataError
from tinyai.features.image import ImageNormalization
from tinyai.tasks.base import Task

CUSTOM_KINDS = (
    "text-classification",
    "text-regression",
    "image-classification",
    "audio-classification",
    "array-classification",
    "array-regression",
    "array-lm",
)
EVAL_PREFERENCE = ("test", "dev", "val", "eval")


def _load_all(data: dict[str, Any], load: Any) -> dict[str, Any]:
    if not data or not isinstance(data, dict):
        raise ConfigError(
            "data must map split names to paths or datasets, e.g. {'train': 'train.csv'}"
        )
    return {split: load(v) if isinstance(v, str | Path) else v for split, v in data.items()}


def _load_tables(data: dict[str, Any], table: dict[str, Any], regression: bool) -> dict[str, Any]:
    """Tables, the train split first: its string labels fix the class ids of the others."""
    _load_all(data, lambda p: p)  # validates the mapping
    order = sorted(data, key=lambda split: split != "train")
    out: dict[str, Any] = {}
    for split in order:
        value = data[split]
        if isinstance(value, str | Path):
            value = load_text_table(value, regression=regression, **table)
            if not regression and "label_names" not in table:
                table["label_names"] = value.label_names
        out[split] = value
    return {split: out[split] for split in data}


def _same_classes(datasets: dict[str, Any]) -> list[str] | None:
    names = {split: d.label_names for split, d in datasets.items() if d.label_names is not None}
    distinct = {tuple(n) for n in names.values()}
    if len(distinct) > 1:
        raise DataError(f"the splits have different classes: {names}; use the same class names")
    return list(next(iter(distinct))) if distinct else None


def _attach(task: Task, name: str, datasets: dict[str, Any]) -> Task:
    task.name = name
    task.splits = tuple(datasets)
    task._datasets = dict(datasets)
    task.train_split = "train" if "train" in datasets else task.splits[0]
    task.eval_split = next((s for s in EVAL_PREFERENCE if s in datasets), task.train_split)
    return task


def _normalization(images: np.ndarray) -> ImageNormalization:
    """Per-channel mean/std of the training pixels (scaled to [0, 1])."""
    pixels = images.reshape(len(images), -1) if images.ndim == 3 else images.reshape(-1, 3)
    axis = None if images.ndim == 3 else 0
    mean = np.atleast_1d(pixels.mean(axis=axis) / 255.0)
    std = np.atleast_1d(pixels.std(axis=axis) / 255.0)
    channels = 1 if images.ndim == 3 else 3
    return ImageNormalization(tuple(mean), tuple(np.maximum(std, 1e-3)), channels)


def custom_task(kind: str, data: dict[str, Any], **kwargs: Any) -> Task:
    """A task of `kind` (one of CUSTOM_KINDS) over the user's `data` splits."""
    if kind in ("text-classification", "text-regression"):
        from tinyai.tasks.text import TextClassificationTask, TextRegressionTask

        regression = kind == "text-regression"
        datasets = _load_tables(data, dict(kwargs.pop("table", {}) or {}), regression)
        if regression:
            task: Task = TextRegressionTask(**kwargs)
        else:
            task = TextClassificationTask(kind, label_names=_same_classes(datasets), **kwargs)
        first = next(iter(datasets.values()))
        task.pair = first.texts_b is not None
        return _attach(task, kind, datasets)
    if kind == "image-classification":
        from tinyai.tasks.vision_audio import ImageClassificationTask

        size = kwargs.get("image_size")
        datasets = _load_all(data, lambda p: load_image_folder(p, size=size))
        train = datasets.get("train", next(iter(datasets.values())))
        kwargs["image_size"] = train.images.shape[1:3]
        kwargs.setdefault("normalization", _normalization(train.images))
        task = ImageClassificationTask(label_names=_same_classes(datasets), **kwargs)
        return _attach(task, kind, datasets)
    if kind == "audio-classification":
        from tinyai.tasks.vision_audio import AudioClassificationTask

        datasets = _load_all(data, load_audio_folder)
        task = AudioClassificationTask(classes=_same_classes(datasets), **kwargs)
        return _attach(task, kind, datasets)
    if kind.startswith("array-"):
        from tinyai.tasks.arrays import array_task

        return array_task(kind, data, **kwargs)
    raise ConfigError(f"unknown task kind {kind!r} for your own data; choose one of {CUSTOM_KINDS}")
