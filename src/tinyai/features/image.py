"""Image normalisation: uint8 pixels -> float32 NCHW tensors, in numpy.

Shared by training and the torch-free runtime, so both normalise identically.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageNormalization:
    """pixel_values = (uint8 / 255 - mean) / std, per channel."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if self.channels not in (1, 3):
            raise ValueError(f"ImageNormalization.channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"mean and std need one value per channel ({self.channels}), "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError("ImageNormalization.std values must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "image", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageNormalization:
        data = {k: v for k, v in data.items() if k != "type"}
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown ImageNormalization key(s): {', '.join(unknown)}")
        return cls(mean=tuple(data["mean"]), std=tuple(data["std"]), channels=int(data["channels"]))


# Mean/std of the Fashion-MNIST training images (pixel / 255), the values commonly used.
FASHION_MNIST_NORMALIZATION = ImageNormalization(mean=(0.2860,), std=(0.3530,), channels=1)


def to_pixel_values(images: np.ndarray, cfg: ImageNormalization) -> np.ndarray:
    """uint8 [N, H, W] or [N, H, W, C] (or one image without N) -> float32 [N, C, H, W]."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise ValueError(f"to_pixel_values expects uint8 pixels, got {x.dtype}")
    if x.ndim == 2 or (x.ndim == 3 and x.shape[-1] == cfg.channels and cfg.channels == 3):
        x = x[None]  # a single image
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != cfg.channels:
        raise ValueError(
            f"expected images shaped [N, H, W] or [N, H, W, {cfg.channels}], "
            f"got {list(np.shape(images))}"
        )
    mean = np.asarray(cfg.mean, dtype=np.float32)
    scale = np.float32(1 / 255) / np.asarray(cfg.std, dtype=np.float32)
    out = x.astype(np.float32) * scale - mean / np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
