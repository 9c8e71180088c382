"""The Task interface: a task knows its data, how to batch it, its loss and its metric.

Batching is done in numpy (`numpy_batches`, usable without torch, e.g. to feed an ONNX
artifact); `batches` wraps the same arrays as torch tensors for training. torch is only
imported inside the methods that hand out or consume tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.errors import DataError

if TYPE_CHECKING:
    import torch


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device, with grad) or array-like as a numpy array."""
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy() if x.is_floating_point() else x.cpu().numpy()
    return np.asarray(x)


class Task:
    """Base class; subclasses set the class attributes and implement the numpy hooks."""

    name: str = ""
    kind: str = ""
    primary_metric: str = "accuracy"
    higher_is_better: bool = True
    input_names: tuple[str, ...] = ()
    output_name: str = "logits"
    splits: tuple[str, ...] = ()
    train_split: str = "train"
    eval_split: str = "test"  # the labelled held-out split reported as the task's score

    def __init__(self, label_names: list[str] | None = None) -> None:
        self._datasets: dict[str, Any] = {}
        self._label_names = None if label_names is None else list(label_names)

    # -- data -----------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str] | None:
        return None if self._label_names is None else list(self._label_names)

    @property
    def num_labels(self) -> int | None:
        names = self.label_names
        return None if names is None else len(names)

    def dataset(self, split: str) -> Any:
        """The dataset of one split (loaded once per task object)."""
        if split not in self.splits:
            raise DataError(f"task {self.name} has no split {split!r}; choose one of {self.splits}")
        if split not in self._datasets:
            self._datasets[split] = self._load(split)
        return self._datasets[split]

    def _load(self, split: str) -> Any:
        raise NotImplementedError

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs (+ "labels" when known) for the examples at `indices`, as numpy."""
        raise NotImplementedError

    def _resolve(self, data: Any) -> Any:
        return self.dataset(data) if isinstance(data, str) else data

    def numpy_batches(
        self, data: Any, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[dict[str, np.ndarray]]:
        """Batches of numpy arrays from a split name or a dataset; shuffling is seeded."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        data = self._resolve(data)
        order = np.arange(len(data))
        if shuffle:
            order = np.random.default_rng(seed).permutation(len(data))
        for start in range(0, len(order), batch_size):
            yield self._collate(data, order[start : start + batch_size])

    def batches(
        self, data: Any, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Like numpy_batches, as torch tensors (model inputs + "labels" when known)."""
        for batch in self.numpy_batches(data, batch_size, shuffle, seed):
            yield {k: row_major_tensor(v) for k, v in batch.items()}

    def model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {name: batch[name] for name in self.input_names}

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        """Small, deterministic model inputs for tracing/export and summaries."""
        return {k: row_major_tensor(v) for k, v in self._example_arrays(batch_size).items()}

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- model outputs ----------------------------------------------------------------------
    def loss(self, outputs: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs, batch["labels"])

    def predictions(self, outputs: Any, batch: dict[str, Any] | None = None) -> np.ndarray:
        """Per-example predictions (numpy) from one batch's model outputs (tensor or array)."""
        return to_numpy(outputs)

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def preprocessing(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for manifests and reports."""
        return {
            "name": self.name,
            "kind": self.kind,
            "label_names": self.label_names,
            "primary_metric": self.primary_metric,
            "higher_is_better": self.higher_is_better,
            "input_names": list(self.input_names),
            "output_name": self.output_name,
        }

    def __repr__(self) -> str:
        return f"<Task {self.name} ({self.kind})>"


def row_major_tensor(array: np.ndarray) -> torch.Tensor:
    """`array` as a tensor with row-major strides.

    numpy calls a one-channel NHWC image batch transposed to NCHW contiguous and keeps its
    strides; torch reads those as channels_last, and the whole network then runs
    channels_last. On x86 CPUs with AVX2 but no AVX-512, torch 2.13's oneDNN backward of a
    stride-2 1x1 conv over channels_last input whose channel count is not a multiple of 8
    (a pruned ResNet shortcut) corrupts the heap and kills the process.
    """
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    strides, step = [], 1
    for size in reversed(tensor.shape):
        strides.insert(0, step)
        step *= size
    if tensor.stride() == tuple(strides):
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)
