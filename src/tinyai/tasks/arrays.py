"""Tasks on the user's own tensors: arrays in, the same batching and metrics as every task.

    get_task("array-classification", data={"train": "train.npz", "test": "test.npz"})
    get_task("array-regression", data={"train": {"x": X, "labels": y}, "test": (X2, y2)})
    get_task("array-lm", data={"train": "windows.npy"})          # int ids [N, T + 1]

Each split is a ``.npz`` file, a ``.safetensors`` file, a folder of ``.npy`` files (one
array per file, named by its stem), one ``.npy`` file (its array is the input), or arrays in
memory: a mapping of names to arrays / tensors, or an ``(inputs, labels)`` pair. Every array
but ``labels`` is a model input, under its own name (one unnamed array is ``inputs``); the
model's forward takes them by name or position (`tinyai.models.calling`).

- array-classification: int labels [N]; metric accuracy. Classes 0..max label, or
  ``label_names``.
- array-regression: float labels [N] or [N, K]; metrics pearson / spearman / mse.
- array-lm: per-position classification: labels [N, T] (next-token ids) for inputs [N, T],
  or, with no labels, one int array of windows [N, T + 1] split into input [:, :-1] and
  labels [:, 1:]; metrics loss / perplexity; the sequence axis is free at export.

The exported artifact takes the raw arrays (preprocessing ``arrays``: names, dtypes, shapes);
its batch axis is free, and so is the sequence axis of any 2-D integer input (token ids).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.errors import DataError
from tinyai.tasks import metrics as m
from tinyai.tasks.base import Task, to_numpy

if TYPE_CHECKING:
    import torch

ARRAY_KINDS = ("array-classification", "array-regression", "array-lm")
ARRAY_SUFFIXES = (".npz", ".npy", ".safetensors")
LABELS = "labels"
DEFAULT_INPUT = "inputs"
_PRIMARY = {"array-classification": "accuracy", "array-regression": "spearman",
            "array-lm": "perplexity"}


@dataclasses.dataclass
class ArrayDataset:
    """Named input arrays [N, ...] with labels [N, ...] (or None)."""

    name: str
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def subset(self, indices: Sequence[int] | np.ndarray) -> ArrayDataset:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        return ArrayDataset(self.name, {k: v[idx] for k, v in self.inputs.items()}, labels)


def is_array_source(path: Path) -> bool:
    """A file or folder this module reads (rather than a table or class folders)."""
    if path.is_file():
        return path.suffix.lower() in ARRAY_SUFFIXES
    return path.is_dir() and any(path.glob("*.npy"))


def read_arrays(source: Any) -> dict[str, np.ndarray]:
    """Name -> array from a file, a folder of .npy files, a mapping or an (inputs, labels)
    pair; nothing is unpickled."""
    if isinstance(source, str | Path):
        return _read_path(Path(source))
    if isinstance(source, Mapping):
        return {str(k): to_numpy(v) for k, v in source.items()}
    if isinstance(source, tuple) and len(source) == 2:
        return {DEFAULT_INPUT: to_numpy(source[0]), LABELS: to_numpy(source[1])}
    if hasattr(source, "shape"):
        return {DEFAULT_INPUT: to_numpy(source)}
    raise DataError(f"cannot read arrays from a {type(source).__name__}; give a .npz, .npy or "
                    ".safetensors path, a folder of .npy files, {name: array} or (inputs, labels)")


def _read_path(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path")
    try:
        if path.is_dir():
            return {f.stem: np.load(f, allow_pickle=False) for f in sorted(path.glob("*.npy"))}
        suffix = path.suffix.lower()
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        if suffix == ".npy":
            return {DEFAULT_INPUT: np.load(path, allow_pickle=False)}
        if suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
    except (OSError, ValueError, EOFError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is not a readable array file ({text})") from None
    raise DataError(f"{path} is not an array file; give .npz, .npy, .safetensors or a folder "
                    "of .npy files")


def array_dataset(kind: str, source: Any, name: str) -> ArrayDataset:
    """One split's arrays, checked and typed for `kind`."""
    arrays = {k: _typed(k, v, name) for k, v in read_arrays(source).items()}
    labels = arrays.pop(LABELS, None)
    if kind == "array-lm" and labels is None and len(arrays) == 1:
        key, windows = next(iter(arrays.items()))
        if windows.ndim != 2 or windows.dtype != np.int64 or windows.shape[1] < 2:
            raise DataError(f"split {name!r}: array-lm without labels takes one int array of "
                            f"windows [N, T + 1]; got {windows.dtype}{list(windows.shape)}")
        arrays, labels = {key: windows[:, :-1]}, windows[:, 1:]
    if not arrays:
        raise DataError(f"split {name!r} holds no input arrays (only {LABELS!r})")
    sizes = {k: len(v) for k, v in [*arrays.items(), *([(LABELS, labels)] if labels is not None
                                                       else [])]}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise DataError(f"split {name!r}: the arrays must have the same number of examples "
                        f"(> 0), got {sizes}")
    _check_labels(kind, labels, arrays, name)
    return ArrayDataset(name, arrays, labels)


def _typed(key: str, value: np.ndarray, split: str) -> np.ndarray:
    """float arrays as float32, integer / bool ones as int64 (what models and ORT take)."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        return np.ascontiguousarray(value, dtype=np.float32)
    if value.dtype.kind in "iub":
        return np.ascontiguousarray(value, dtype=np.int64)
    raise DataError(f"split {split!r}: array {key!r} has dtype {value.dtype}; give numbers")


def _check_labels(kind: str, labels: np.ndarray | None, inputs: dict[str, np.ndarray],
                  split: str) -> None:
    if labels is None:
        raise DataError(f"split {split!r} has no {LABELS!r} array; add one (an .npz key, "
                        f"{LABELS}.npy in the folder, or the second item of (inputs, labels))")
    if kind == "array-classification" and (labels.dtype != np.int64 or labels.ndim != 1
                                           or labels.min() < 0):
        raise DataError(f"split {split!r}: classification labels are class ids >= 0 [N]; got "
                        f"{labels.dtype}{list(labels.shape)}")
    if kind == "array-lm" and (labels.dtype != np.int64 or labels.ndim != 2):
        raise DataError(f"split {split!r}: array-lm labels are token ids [N, T]; got "
                        f"{labels.dtype}{list(labels.shape)}")


def infer_array_kind(path: Path) -> str:
    """The kind of a split's arrays: windows or 2-D int labels -> lm, int labels ->
    classification, float labels -> regression."""
    arrays = read_arrays(path)
    labels = arrays.get(LABELS)
    if labels is None:
        return "array-lm"
    if labels.dtype.kind in "iub":
        return "array-lm" if labels.ndim == 2 else "array-classification"
    return "array-regression"


def _free_axes(kind: str, array: np.ndarray) -> dict[int, str]:
    """The axes of an input that may change size in the exported graph: the batch, and the
    sequence of an LM's inputs or of 2-D integer arrays (token ids [N, T], e.g. with their
    attention mask), so a model over tokens is not frozen at the example's length."""
    token_ids = array.ndim == 2 and array.dtype == np.int64
    return {0: "batch", 1: "sequence"} if kind == "array-lm" or token_ids else {0: "batch"}


class ArrayTask(Task):
    """A task over `ArrayDataset` splits (built by `array_task`)."""

    def __init__(self, kind: str, datasets: dict[str, ArrayDataset],
                 label_names: list[str] | None = None, primary_metric: str | None = None) -> None:
        if kind == "array-classification" and label_names is None:
            count = 1 + max(int(d.labels.max()) for d in datasets.values()
                            if d.labels is not None)
            label_names = [str(i) for i in range(count)]
        super().__init__(label_names if kind == "array-classification" else None)
        self.name = self.kind = kind
        self.primary_metric = primary_metric or _PRIMARY[kind]
        self.higher_is_better = self.primary_metric not in ("loss", "perplexity", "mse")
        self.output_name = "score" if kind == "array-regression" else "logits"
        first = next(iter(datasets.values()))
        self.input_names = tuple(first.inputs)
        for split, data in datasets.items():
            if tuple(data.inputs) != self.input_names:
                raise DataError(f"split {split!r} has inputs {list(data.inputs)}, another has "
                                f"{list(self.input_names)}; give every split the same arrays")
        self.input_axes = {n: _free_axes(kind, a) for n, a in first.inputs.items()}
        self._examples = datasets.get("train", first)

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        batch = {k: v[indices] for k, v in data.inputs.items()}
        if data.labels is not None:
            batch[LABELS] = data.labels[indices]
        return batch

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        """The first rows of the first split: real, deterministic examples."""
        rows = np.arange(batch_size) % len(self._examples)
        return {k: v[rows] for k, v in self._examples.inputs.items()}

    def loss(self, outputs: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        labels = batch[LABELS]
        if self.kind == "array-regression":
            return F.mse_loss(outputs.reshape(labels.shape).float(), labels.float())
        if self.kind == "array-lm":
            return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), labels.reshape(-1))
        return F.cross_entropy(outputs, labels)

    def predictions(self, outputs: Any, batch: dict[str, Any] | None = None) -> np.ndarray:
        out = to_numpy(outputs)
        return out.reshape(len(out), -1).squeeze(-1) if self.kind == "array-regression" else out

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        if self.kind == "array-classification":
            return m.classification_metrics(predictions, labels)
        if self.kind == "array-regression":
            return m.regression_metrics(predictions, labels)
        out = m.char_lm_metrics(predictions, labels)
        del out["bits_per_char"]  # tokens, not characters
        return out

    def preprocessing(self) -> dict[str, Any]:
        """Raw arrays in: each input's dtype and per-example shape (None: a free axis)."""
        specs = []
        for name, array in self._examples.inputs.items():
            free = set(self.input_axes[name]) - {0}
            shape = [None if axis in free else int(n) for axis, n in enumerate(array.shape)][1:]
            specs.append({"name": name, "dtype": array.dtype.name, "shape": shape,
                          "example_shape": [int(n) for n in array.shape[1:]]})
        return {"type": "arrays", "inputs": specs}


def array_task(kind: str, data: Mapping[str, Any], label_names: list[str] | None = None,
               primary_metric: str | None = None) -> Task:
    """An `ArrayTask` of `kind` over the user's `data` splits (see the module docstring)."""
    from tinyai.tasks.custom import _attach

    if not data or not isinstance(data, Mapping):
        raise DataError("data must map split names to arrays or array files, e.g. "
                        "{'train': 'train.npz', 'test': 'test.npz'}")
    datasets = {str(split): v if isinstance(v, ArrayDataset) else array_dataset(kind, v, split)
                for split, v in data.items()}
    task = ArrayTask(kind, datasets, label_names, primary_metric)
    return _attach(task, kind, datasets)


class ExampleTask(ArrayTask):
    """What an export knows from example inputs alone: their names, dtypes and shapes.

    Kind "tensors": raw arrays in, the model's raw output out (`Predictor.outputs`); no
    labels, no metric, only the batch axis free.
    """

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        Task.__init__(self)
        arrays = {k: _typed(k, to_numpy(v), "examples") for k, v in inputs.items()}
        self.name = self.kind = "tensors"
        self.primary_metric, self.output_name = "", "output"
        self.input_names = tuple(arrays)
        self.input_axes = {name: {0: "batch"} for name in arrays}
        self._examples = ArrayDataset("examples", arrays)
        self.splits = ("examples",)
        self.train_split = self.eval_split = "examples"
        self._datasets = {"examples": self._examples}


def example_task(example_inputs: Any) -> ExampleTask:
    """An `ExampleTask` from named tensors, a tuple of tensors (input_0, input_1, ...) or
    one tensor (inputs)."""
    if isinstance(example_inputs, Mapping):
        return ExampleTask(example_inputs)
    if isinstance(example_inputs, tuple | list):
        return ExampleTask({f"input_{i}": x for i, x in enumerate(example_inputs)})
    return ExampleTask({DEFAULT_INPUT: example_inputs})
