"""Fashion-MNIST image classification and Speech Commands keyword spotting.

Both turn raw data into model inputs with tinyai.features (numpy), the same code the
runtime runs, so training and on-device preprocessing cannot drift apart.
Fashion-MNIST splits: train (60k) / test (10k). Speech Commands: speaker-disjoint
train / val / test (see tinyai.data.speech_commands).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyai.data.fashion_mnist import LABEL_NAMES, load_fashion_mnist
from tinyai.data.speech_commands import CLASSES, CLIP_SAMPLES, load_speech_commands
from tinyai.features.audio import KWS_MFCC, AudioFeatures, audio_features
from tinyai.features.image import FASHION_MNIST_NORMALIZATION, ImageNormalization, to_pixel_values
from tinyai.tasks import metrics as m
from tinyai.tasks.base import Task


class ImageClassificationTask(Task):
    name = "fashion-mnist"
    kind = "image-classification"
    input_names = ("pixel_values",)
    splits = ("train", "test")
    eval_split = "test"

    def __init__(
        self,
        normalization: ImageNormalization | dict | None = None,
        image_size: tuple[int, int] = (28, 28),
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(label_names or LABEL_NAMES)
        if isinstance(normalization, dict):
            normalization = ImageNormalization.from_dict(normalization)
        self.normalization = normalization or FASHION_MNIST_NORMALIZATION
        self.image_size = (int(image_size[0]), int(image_size[1]))  # height, width

    def _load(self, split: str) -> Any:
        return load_fashion_mnist(split)

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "pixel_values": to_pixel_values(data.images[indices], self.normalization),
            "labels": data.labels[indices],
        }

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        shape = (batch_size, *self.image_size)
        if self.normalization.channels == 3:
            shape += (3,)
        images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        return {"pixel_values": to_pixel_values(images, self.normalization)}

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return m.classification_metrics(predictions, labels)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "type": "image",
            "normalization": self.normalization.to_dict(),
            "height": self.image_size[0],
            "width": self.image_size[1],
            "channels": self.normalization.channels,
        }


@dataclass
class _Featurised:
    features: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class AudioClassificationTask(Task):
    """12-class keyword spotting on 1 s clips. The model sees `tinyai.features` audio features,
    by default MLPerf Tiny's 49 x 10 MFCCs (`KWS_MFCC`)."""

    name = "speech-commands"
    kind = "audio-classification"
    input_names = ("features",)
    splits = ("train", "val", "test")
    eval_split = "test"

    def __init__(
        self,
        features: AudioFeatures | dict | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        super().__init__(list(classes or CLASSES))
        if isinstance(features, dict):
            features = AudioFeatures.from_dict(features)
        self.features = features or KWS_MFCC
        self.classes = list(classes or CLASSES)
        self._split_features: dict[str, _Featurised] = {}

    def _load(self, split: str) -> Any:
        return load_speech_commands(split, self.classes)

    def numpy_batches(
        self, data: Any, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[dict[str, np.ndarray]]:
        if isinstance(data, str):
            data = self.featurised(data)
        return super().numpy_batches(data, batch_size, shuffle, seed)

    def featurised(self, split: str) -> _Featurised:
        """A named split with its features computed once and kept for later epochs."""
        if split not in self._split_features:
            dataset = self.dataset(split)
            feats = audio_features(dataset.waveforms, self.features)
            self._split_features[split] = _Featurised(feats, dataset.labels)
        return self._split_features[split]

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        if isinstance(data, _Featurised):
            feats = data.features[indices]
        else:
            feats = audio_features(data.waveforms[indices], self.features)
        return {"features": feats, "labels": data.labels[indices]}

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        noise = np.random.default_rng(0).standard_normal((batch_size, CLIP_SAMPLES)) * 0.05
        return {"features": audio_features(noise.astype(np.float32), self.features)}

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return m.classification_metrics(predictions, labels)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "type": "audio",
            "features": self.features.to_dict(),
            "num_samples": CLIP_SAMPLES,
            "frames": self.features.num_frames(CLIP_SAMPLES),
        }
