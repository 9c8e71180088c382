"""Lossless sparse codec for pruned weights (numpy only, so the runtime can decode it).

Three layouts, the smallest wins per tensor:
- "bitmap": one bit per element (1 = stored) + the stored values; best from ~6% density up.
- "delta8" / "delta16": gaps between consecutive stored elements as uint8/uint16 + values
  (CSR-style relative indexing, as in Han et al.'s Deep Compression); a gap longer than
  the integer range is bridged with explicit zero entries.
"Zero" means all bits zero, so -0.0 and NaN payloads survive bit for bit. Values keep
their dtype: the codec also packs sparse int8 or float16 weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyai.runtime.codecs import register_codec

# Below this fraction of zeros no layout beats raw storage, so skip the work.
_MIN_SPARSITY = 0.1


def _bits(array: np.ndarray) -> np.ndarray:
    """The array's raw bits as unsigned ints of the same width (zero test is bitwise)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(np.dtype(f"<u{flat.dtype.itemsize}"))


def _delta_layout(
    positions: np.ndarray, values: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gaps (>= 1) capped at the integer range, padded with explicit zeros where needed."""
    cap = np.iinfo(np.dtype(f"<u{width}")).max
    gaps = np.diff(positions, prepend=-1)
    pads = (gaps - 1) // cap
    counts = pads + 1
    last = np.cumsum(counts) - 1
    deltas = np.full(int(counts.sum()), cap, dtype=np.int64)
    deltas[last] = gaps - pads * cap
    padded = np.zeros(len(deltas), dtype=values.dtype)
    padded[last] = values
    return deltas.astype(f"<u{width}"), padded


class SparseCodec:
    name = "sparse"

    def encode(self, array: np.ndarray) -> tuple[bytes, dict[str, Any]] | None:
        if array.size == 0 or array.dtype.kind not in "fiub":
            return None
        bits = _bits(array)
        stored = bits != 0
        nnz = int(stored.sum())
        if 1.0 - nnz / array.size < _MIN_SPARSITY:
            return None
        little = array.dtype.newbyteorder("<")
        flat = np.ascontiguousarray(array).reshape(-1).astype(little)
        values = flat[stored]
        candidates = {"bitmap": np.packbits(stored, bitorder="little").tobytes() + values.tobytes()}
        positions = np.flatnonzero(stored)
        for width, layout in ((1, "delta8"), (2, "delta16")):
            deltas, padded = _delta_layout(positions, values, width)
            candidates[layout] = deltas.tobytes() + padded.tobytes()
        layout = min(candidates, key=lambda k: len(candidates[k]))
        data = candidates[layout]
        count = nnz if layout == "bitmap" else (len(data) // (_width(layout) + little.itemsize))
        return data, {"layout": layout, "count": count}

    def decode(self, data: bytes, meta: dict[str, Any]) -> np.ndarray:
        dtype = np.dtype(meta["dtype"])
        little = dtype.newbyteorder("<")
        size = int(np.prod(meta["shape"], dtype=np.int64))
        count, layout = int(meta["count"]), meta["layout"]
        out = np.zeros(size, dtype=little)
        buf = memoryview(data)
        if layout == "bitmap":
            n_mask = (size + 7) // 8
            stored = np.unpackbits(
                np.frombuffer(buf[:n_mask], np.uint8), count=size, bitorder="little"
            ).astype(bool)
            out[stored] = np.frombuffer(buf[n_mask:], little, count=count)
        else:
            width = _width(layout)
            deltas = np.frombuffer(buf[: count * width], f"<u{width}", count=count)
            positions = np.cumsum(deltas, dtype=np.int64) - 1
            out[positions] = np.frombuffer(buf[count * width :], little, count=count)
        return out.astype(dtype).reshape(meta["shape"])


def _width(layout: str) -> int:
    return {"delta8": 1, "delta16": 2}[layout]


register_codec(SparseCodec())
