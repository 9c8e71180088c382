"""The sparse weight codec: exact round trips, and it wins where it should."""

from __future__ import annotations

import numpy as np
import pytest

from tinyai.runtime.codecs import decode, encode_smallest
from tinyai.runtime.codecs.sparse import SparseCodec


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.03, 0.1, 0.5, 0.95])
def test_round_trip_is_bit_exact(dtype: str, density: float) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((64, 300)) * 20).astype(dtype)
    array[rng.random(array.shape) >= density] = 0
    codec = SparseCodec()
    encoded = codec.encode(array)
    if encoded is None:  # not sparse enough to bother
        assert density >= 0.9
        return
    data, meta = encoded
    restored = codec.decode(data, {**meta, "shape": list(array.shape), "dtype": dtype})
    assert restored.dtype == array.dtype and restored.tobytes() == array.tobytes()


def test_long_gaps_negative_zero_and_nan_survive() -> None:
    array = np.zeros(200_003, dtype=np.float32)
    array[[0, 70_000, 200_002]] = [1.5, np.nan, -2.0]
    array[5] = -0.0
    name, data, meta = encode_smallest(array)
    assert name == "sparse" and len(data) < 100
    assert decode(name, data, meta, [200_003], "float32").tobytes() == array.tobytes()


def test_smallest_layout_is_chosen() -> None:
    rng = np.random.default_rng(1)
    array = rng.standard_normal(100_000).astype(np.float32)
    for density, layout in [(0.5, "bitmap"), (0.1, "delta8"), (0.001, "delta16")]:
        sparse = np.where(rng.random(array.shape) < density, array, 0).astype(np.float32)
        name, data, meta = encode_smallest(sparse)
        assert (name, meta["layout"]) == ("sparse", layout)
        assert len(data) < sparse.nbytes * (density + 0.15)


def test_stored_bytes_reports_what_ships() -> None:
    import torch

    from tinyai.models import LeNet300100
    from tinyai.prune import MagnitudePruning, prune_
    from tinyai.prune.stats import stored_bytes

    model = LeNet300100()
    prune_(model, MagnitudePruning(sparsity=0.9))  # masks still held
    sizes = stored_bytes(model)
    dense, packed = sizes["layers.1.weight"]
    assert dense == 300 * 784 * 4 and packed < dense / 6
    assert sizes["layers.1.bias"][0] == sizes["layers.1.bias"][1]  # dense stays raw
    assert isinstance(model.layers[1].weight, torch.Tensor)
