"""One description of a task for the API, the CLI and recipes: a built-in task by name, or
the user's own files, with the splits, held-out fraction and slices to use.

    TaskSpec(name="sst2", max_length=64, limit={"train": 2000})
    TaskSpec(data={"train": "yelp_train.tsv", "test": "yelp_test.tsv"})   # kind inferred
    TaskSpec(data={"train": "digits/"}, holdout=0.2)                       # image folders

In a recipe it is the ``task:`` mapping (or just the name); on the command line a task name
and/or ``--data train=my.tsv,test=my_test.tsv``. `build_task` turns it into a `Task`, which
keeps its spec (`task.spec`), so an exported artifact records where its data came from and
`tinyai evaluate ARTIFACT` can score it on that data again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.config import Config
from tinyai.errors import ConfigError, DataError

USER_KINDS = ("text-classification", "text-regression", "image-classification",
              "audio-classification", "array-classification", "array-regression", "array-lm")
TEXT_SUFFIXES = (".tsv", ".tab", ".txt", ".csv")


@dataclasses.dataclass
class TaskSpec(Config):
    """What to train and score on.

    name: a built-in task (sst2, cola, mrpc, stsb, stsb-embed, fashion-mnist,
        speech-commands, shakespeare).
    data: the user's own files, split name -> path (a TSV/CSV table, a folder with one
        sub-folder of wavs or images per class, or arrays: .npz / .npy / .safetensors or a
        folder of .npy files); the held-out split is the first of test / dev / val / eval
        present.
    kind: the task kind for `data` (inferred from the files when None).
    holdout: with `data` holding only a train split, this fraction of it (seeded) becomes
        the held-out "test" split.
    limit: split -> use only the first N examples (small runs, tests); the key "eval"
        names the task's held-out split, whatever it is called (dev, test, val).
    max_length: text: tokens per example. text_column / label_column / text_b_column: the
        table's columns (a text_b column makes it a sentence-pair task). image_size:
        (height, width) to resize images to.
    """

    name: str | None = None
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    kind: str | None = None
    holdout: float = 0.0
    limit: dict[str, int] = dataclasses.field(default_factory=dict)
    max_length: int | None = None
    text_column: str = "text"
    label_column: str = "label"
    text_b_column: str | None = None
    image_size: tuple[int, int] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.name is None) == (not self.data):
            raise ValueError("name or data must be given (a built-in task name, or your own "
                             "files as data: {train: PATH, test: PATH}), not both")
        if self.kind is not None and self.kind not in USER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(USER_KINDS)}, got {self.kind!r}")
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"holdout must be in [0, 1), got {self.holdout}")
        for split, n in self.limit.items():
            if n < 1:
                raise ValueError(f"limit[{split!r}] must be >= 1, got {n}")
        if self.max_length is not None and self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")
        if self.image_size is not None and min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.holdout and len(self.data) > 1:
            raise ValueError("holdout splits a lone train split; with several splits given, "
                             "drop holdout")

    @classmethod
    def coerce(cls, value: Any, where: str = "task") -> TaskSpec:
        """A spec from a recipe value: a task name, a mapping, or a TaskSpec."""
        if isinstance(value, TaskSpec):
            return value
        if isinstance(value, str):
            return cls(name=value)
        return cls.from_dict(value, where)

    def resolved_paths(self, base: Path) -> TaskSpec:
        """The spec with data paths made absolute (relative to `base`, a recipe's folder)."""
        data = {k: str((base / Path(v).expanduser()).resolve()) for k, v in self.data.items()}
        return self.replace(data=data) if data else self


def replayable_spec(task: Any) -> dict[str, Any] | None:
    """Where `task`'s data came from (its TaskSpec without the run's example limits), so an
    artifact or a model directory can be scored on that data again; None for a task built in
    memory."""
    spec = getattr(task, "spec", None)
    if spec is None:
        return None
    fields = {k: v for k, v in spec.to_dict().items() if not k.startswith("_")}
    fields["limit"] = {}
    return fields


def parse_data_option(text: str) -> dict[str, str]:
    """``train=a.tsv,test=b.tsv`` (or one path: the train split) -> {split: path}."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        split, sep, path = part.partition("=")
        if not sep:
            split, path = "train", part
        split, path = split.strip(), path.strip()
        if not split or not path or split in out:
            raise ConfigError(f"--data takes SPLIT=PATH pairs like train=my.tsv,test=my_test.tsv, "
                              f"not {text!r}")
        out[split] = path
    if not out:
        raise ConfigError("--data is empty; give SPLIT=PATH pairs like train=my.tsv")
    return out


def build_task(spec: TaskSpec, tokenizer: Any = None) -> Any:
    """The `Task` a spec describes; `tokenizer` (a folder or object) overrides a text task's."""
    from tinyai.tasks import TASK_NAMES, get_task

    options: dict[str, Any] = {}
    if spec.name is not None:
        if spec.name not in TASK_NAMES:
            from tinyai.config import unknown_key_message

            raise ConfigError(unknown_key_message(spec.name, TASK_NAMES, "built-in tasks")
                              .replace("unknown key", "unknown task") +
                              "; for your own files give data: {train: PATH, test: PATH}")
        text = spec.name in ("sst2", "cola", "mrpc", "stsb", "stsb-embed")
        if text and spec.max_length is not None:
            options["max_length"] = spec.max_length
        if text and tokenizer is not None:
            options["tokenizer"] = tokenizer
        task = get_task(spec.name, **options)
    else:
        task = _user_task(spec, tokenizer)
    _apply_limits(task, spec)
    task.spec = spec
    return task


def _user_task(spec: TaskSpec, tokenizer: Any) -> Any:
    from tinyai.tasks.custom import custom_task

    data = dict(spec.data)
    for split, path in data.items():
        if not Path(path).exists():
            raise DataError(f"data file or folder {path} (split {split!r}) does not exist; "
                            "check the path")
    kind = spec.kind or infer_kind(Path(data.get("train", next(iter(data.values())))),
                                   spec.label_column)
    options: dict[str, Any] = {}
    if kind.startswith("text-"):
        options["table"] = {"text_column": spec.text_column, "label_column": spec.label_column,
                            "text_b_column": spec.text_b_column}
        if spec.max_length is not None:
            options["max_length"] = spec.max_length
        if tokenizer is not None:
            options["tokenizer"] = tokenizer
    elif kind == "image-classification" and spec.image_size is not None:
        options["image_size"] = tuple(spec.image_size)
    task = custom_task(kind, data=data, **options)
    if spec.holdout:
        _hold_out(task, spec.holdout, spec.seed)
    if kind.endswith("-classification"):  # regression and LM targets have no classes
        _check_classes(task, data.get(task.train_split, ""))
    return task


def _check_classes(task: Any, where: str) -> None:
    """A classifier learns nothing from one class: refuse such training data up front."""
    labels = task.dataset(task.train_split).labels
    present = sorted({int(v) for v in np.asarray(labels).tolist()})
    names = task.label_names or []
    if len(names) < 2 or len(present) < 2:
        only = names[present[0]] if present and present[0] < len(names) else "?"
        raise DataError(f"{where} has examples of one class only ({only!r}); a classifier needs "
                        "at least two: add examples of the other classes")


def infer_kind(path: Path, label_column: str = "label") -> str:
    """The task kind of a user's data file or folder, from what it holds."""
    from tinyai.tasks.arrays import infer_array_kind, is_array_source

    if is_array_source(path):
        return infer_array_kind(path)
    if path.is_file():
        if path.suffix.lower() not in TEXT_SUFFIXES:
            raise DataError(f"{path} is not a table (.tsv/.csv) nor a folder of class folders; "
                            "give a TSV/CSV file, or a folder with one sub-folder per class")
        return _table_kind(path, label_column)
    suffixes = {f.suffix.lower() for f in path.glob("*/*") if f.is_file()}
    if ".wav" in suffixes:
        return "audio-classification"
    from tinyai.data.user import IMAGE_SUFFIXES

    if suffixes & set(IMAGE_SUFFIXES):
        return "image-classification"
    raise DataError(f"{path} holds no class sub-folders of .wav files or images; give "
                    "root/<class>/<file> folders, or set kind")


def _table_kind(path: Path, label_column: str) -> str:
    """Classification unless every label is a number and some are not whole numbers."""
    from tinyai.data.user import read_table

    labels = [row.get(label_column) or "" for row in read_table(path)[1][:2000]]
    try:
        values = [float(v) for v in labels]
    except ValueError:
        return "text-classification"
    whole = all(v.is_integer() for v in values)
    return "text-classification" if whole else "text-regression"


def _hold_out(task: Any, fraction: float, seed: int) -> None:
    """Split the lone train split into train and a seeded held-out "test" split."""
    data = task.dataset(task.train_split)
    order = np.random.default_rng(seed).permutation(len(data))
    n_test = max(1, round(len(data) * fraction))
    if n_test >= len(data):
        raise DataError(f"holdout {fraction} leaves no training examples of {len(data)}")
    task._datasets = {"train": data.subset(np.sort(order[n_test:])),
                      "test": data.subset(np.sort(order[:n_test]))}
    task.splits = ("train", "test")
    task.train_split, task.eval_split = "train", "test"


def _apply_limits(task: Any, spec: TaskSpec) -> None:
    for key, n in spec.limit.items():
        split = task.eval_split if key == "eval" else key
        if split not in task.splits:
            raise ConfigError(f"task.limit names split {split!r}, but the task's splits are "
                              f"{', '.join(task.splits)}")
        data = task.dataset(split)
        if n < len(data):
            task._datasets[split] = data.subset(np.arange(n))
