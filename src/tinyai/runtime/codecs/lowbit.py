"""Bit-packing of 2/4/8-bit integer codes, numpy only (the runtime imports it without torch).

The layout is the one ONNX Runtime's 4-bit/2-bit kernels read (com.microsoft MatMulNBits and
GatherBlockQuantized): codes are packed along the last axis, low bits first, so code ``i`` of a
byte sits at bits ``[i*bits, (i+1)*bits)``. Packing with the kernel's own layout means the
stored bytes are handed to ONNX Runtime as they are, with no repacking at load.

`unpack_groupwise` is the "unpack at load" path: it rebuilds the float weight from codes,
per-group scales and zero points, for layers or runtimes that have no low-bit kernel.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_BITS = (2, 4, 8)


def _check_bits(bits: int) -> int:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
    return 8 // bits


def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned codes in [0, 2**bits) along the last axis, low bits first."""
    per_byte = _check_bits(bits)
    codes = np.asarray(codes)
    if codes.shape[-1] % per_byte:
        raise ValueError(f"last axis ({codes.shape[-1]}) must be a multiple of {per_byte}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"codes must lie in [0, {1 << bits}) for {bits}-bit packing")
    grouped = codes.astype(np.uint8).reshape(*codes.shape[:-1], -1, per_byte)
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits).astype(np.uint8)
    return np.bitwise_or.reduce(grouped << shifts, axis=-1).astype(np.uint8)


def unpack_bits(packed: np.ndarray, bits: int, length: int | None = None) -> np.ndarray:
    """Inverse of `pack_bits`: uint8 codes, optionally cut to `length` along the last axis."""
    per_byte = _check_bits(bits)
    packed = np.asarray(packed, dtype=np.uint8)
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits).astype(np.uint8)
    mask = np.uint8((1 << bits) - 1)
    codes = (packed[..., None] >> shifts) & mask
    codes = codes.reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)
    return codes if length is None else codes[..., :length]


def unpack_groupwise(
    packed: np.ndarray,
    scales: np.ndarray,
    zero_points: np.ndarray,
    bits: int,
    group_size: int,
    columns: int,
) -> np.ndarray:
    """Float32 weight [rows, columns] = (code - zero_point) * scale, one scale per group of columns.

    `zero_points` are unpacked uint8 [rows, groups]; the arithmetic is done in float32 in the
    same order as tinyai's PyTorch reference so the two agree bit for bit.
    """
    codes = unpack_bits(packed, bits, columns).astype(np.float32)
    rows = codes.shape[0]
    grouped = codes.reshape(rows, -1, group_size)
    zp = np.asarray(zero_points, dtype=np.float32)[..., None]
    sc = np.asarray(scales, dtype=np.float32)[..., None]
    return ((grouped - zp) * sc).reshape(rows, columns)


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes taken by `count` codes of `bits` bits (the file really stores this many)."""
    return (count * bits + 7) // 8
