"""Fashion-MNIST (Zalando), read from the idx .gz files in tinyai.paths.fashion_mnist_dir().

Splits are the official ones: ``train`` 60,000 and ``test`` 10,000 28x28 grayscale images,
10 balanced classes. Hold out part of ``train`` yourself if you need a validation set.
"""

from __future__ import annotations

import numpy as np

from tinyai.data._files import read_bytes
from tinyai.data.datasets import ImageDataset
from tinyai.errors import DataError
from tinyai.paths import fashion_mnist_dir

LABEL_NAMES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(name: str, expected_dims: int) -> np.ndarray:
    path = fashion_mnist_dir() / name
    data = read_bytes(path)
    fix = "reinstall dataset-fashion-mnist or set TINYAI_FASHION_MNIST to a good copy"
    # idx header: two zero bytes, dtype code 0x08 (uint8), number of dims, then big-endian sizes.
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or data[3] != expected_dims:
        raise DataError(f"{path} is not a uint8 idx file with {expected_dims} dims; {fix}")
    dims = np.frombuffer(data, dtype=">u4", count=expected_dims, offset=4).astype(int)
    offset = 4 + 4 * expected_dims
    if len(data) - offset != int(np.prod(dims)):
        raise DataError(
            f"{path} is truncated ({len(data) - offset} of {np.prod(dims)} bytes); {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def load_fashion_mnist(split: str) -> ImageDataset:
    """uint8 images [N, 28, 28] with int64 labels 0-9 (names in LABEL_NAMES)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for fashion-mnist; choose one of train, test")
    prefix = _PREFIX[split]
    images = _read_idx(f"{prefix}-images-idx3-ubyte.gz", 3)
    labels = _read_idx(f"{prefix}-labels-idx1-ubyte.gz", 1)
    if len(images) != len(labels):
        raise DataError(f"Fashion-MNIST {split}: {len(images)} images but {len(labels)} labels")
    return ImageDataset(
        f"fashion-mnist-{split}", images, labels.astype(np.int64), list(LABEL_NAMES)
    )
