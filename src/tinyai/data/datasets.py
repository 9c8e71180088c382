"""The in-memory dataset containers every loader returns (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def _indices(indices: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"subset index out of range for a dataset of {n} examples")
    return idx


@dataclass
class TextDataset:
    """Sentences (or sentence pairs) with int64 class labels or float32 scores (regression)."""

    name: str
    texts: list[str]
    texts_b: list[str] | None = None
    labels: np.ndarray | None = None
    label_names: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.texts)
        if self.texts_b is not None and len(self.texts_b) != n:
            raise ValueError(f"texts_b has {len(self.texts_b)} entries, texts has {n}")
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if self.labels.dtype.kind in "iub":
                self.labels = self.labels.astype(np.int64)
            else:
                self.labels = self.labels.astype(np.float32)
            if len(self.labels) != n:
                raise ValueError(f"labels has {len(self.labels)} entries, texts has {n}")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextDataset:
        idx = _indices(indices, len(self))
        return TextDataset(
            name=self.name,
            texts=[self.texts[i] for i in idx],
            texts_b=None if self.texts_b is None else [self.texts_b[i] for i in idx],
            labels=None if self.labels is None else self.labels[idx],
            label_names=self.label_names,
        )


@dataclass
class ImageDataset:
    """uint8 images [N, H, W] (grayscale) or [N, H, W, C], with int64 labels."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        idx = _indices(indices, len(self))
        return ImageDataset(self.name, self.images[idx], self.labels[idx], self.label_names)


@dataclass
class AudioDataset:
    """float32 waveforms [N, samples] in [-1, 1], int64 labels, one speaker id per clip."""

    name: str
    waveforms: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    speakers: list[str] = field(default_factory=list)
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.waveforms)
        if len(self.labels) != n:
            raise ValueError(f"{n} waveforms but {len(self.labels)} labels")
        if self.speakers and len(self.speakers) != n:
            raise ValueError(f"{n} waveforms but {len(self.speakers)} speaker ids")

    def __len__(self) -> int:
        return len(self.waveforms)

    def subset(self, indices: Sequence[int] | np.ndarray) -> AudioDataset:
        idx = _indices(indices, len(self))
        speakers = [self.speakers[i] for i in idx] if self.speakers else []
        return AudioDataset(
            self.name,
            self.waveforms[idx],
            self.labels[idx],
            self.label_names,
            speakers,
            self.sample_rate,
        )
