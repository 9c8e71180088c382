"""Deep Compression stage 3: Huffman coding of shared weights, numpy only.

A tensor with few distinct values (k-means weight sharing leaves at most 2**bits per layer,
plus the zeros pruning left) is stored as:
- a palette of its distinct nonzero values (float32, exact), then either
- sparse form: canonical-Huffman-coded palette indices of the nonzeros, and the gaps between
  consecutive nonzero positions (the paper's relative index), Huffman-coded too; or
- dense form: Huffman-coded palette indices of every element (zero is a palette entry),
whichever is smaller. It is lossless: export keeps it only if it decodes bit for bit.

Written by hand because no maintained numpy library does canonical Huffman with a fast
vectorised decoder. Decoding speed: the bit stream is cut into chunks whose starting bit
offsets are stored, and all chunks are decoded in lock step with one table lookup per symbol
(numpy over chunks), so a million symbols decode in a fraction of a second.
"""

from __future__ import annotations

import heapq
import json
import struct
from typing import Any

import numpy as np

MAX_CODE_LENGTH = 20  # lookup table of 2**20 entries at most
MAX_PALETTE = 1 << 16
CHUNK = 1024  # symbols per independently decodable chunk


def code_lengths(counts: np.ndarray, limit: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Huffman code length per symbol (all counts > 0), limited to `limit` bits.

    Length limiting by flattening the counts and rebuilding: crude, but it only triggers on
    extremely skewed alphabets and costs a fraction of a bit per symbol there.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 1:
        return np.ones(1, dtype=np.int64)
    while True:
        heap = [(int(c), i, (i,)) for i, c in enumerate(counts)]
        heapq.heapify(heap)
        lengths = np.zeros(counts.size, dtype=np.int64)
        tie = counts.size
        while len(heap) > 1:
            c1, _, s1 = heapq.heappop(heap)
            c2, _, s2 = heapq.heappop(heap)
            merged = s1 + s2
            lengths[list(merged)] += 1
            heapq.heappush(heap, (c1 + c2, tie, merged))
            tie += 1
        if lengths.max() <= limit:
            return lengths
        counts = np.maximum(counts >> 1, 1)


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes: sorted by (length, symbol), consecutive values per length."""
    order = np.lexsort((np.arange(lengths.size), lengths))
    codes = np.zeros(lengths.size, dtype=np.int64)
    code, prev_len = 0, int(lengths[order[0]])
    for rank, sym in enumerate(order):
        ln = int(lengths[sym])
        if rank:
            code = (code + 1) << (ln - prev_len)
        codes[sym] = code
        prev_len = ln
    return codes


def encode_symbols(symbols: np.ndarray, alphabet: int) -> tuple[bytes, dict[str, Any]]:
    """Huffman-code integer symbols in [0, alphabet): payload and the lengths needed to decode."""
    symbols = np.asarray(symbols, dtype=np.int64)
    counts = np.bincount(symbols, minlength=alphabet)
    used = np.flatnonzero(counts)
    lengths = np.zeros(alphabet, dtype=np.int64)
    lengths[used] = code_lengths(counts[used])
    codes = canonical_codes(np.where(lengths > 0, lengths, MAX_CODE_LENGTH + 1))
    sym_len = lengths[symbols]
    starts = np.concatenate([[0], np.cumsum(sym_len)])
    # Blocks bound the memory of the bit expansion (one byte per bit) on large tensors.
    block = 1 << 18
    bits = [
        _code_bits(symbols[i : i + block], lengths, codes) for i in range(0, symbols.size, block)
    ]
    payload = np.packbits(np.concatenate(bits) if bits else np.zeros(0, np.uint8)).tobytes()
    chunk_starts = starts[:-1][::CHUNK].astype(np.uint32)
    meta = {"count": int(symbols.size), "lengths": lengths.astype(np.uint8).tobytes().hex()}
    return chunk_starts.tobytes() + payload, meta


def _code_bits(symbols: np.ndarray, lengths: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Bit j of each symbol's code, most significant first, laid out consecutively."""
    sym_len, sym_code = lengths[symbols], codes[symbols]
    starts = np.concatenate([[0], np.cumsum(sym_len)[:-1]])
    owner = np.repeat(np.arange(symbols.size), sym_len)
    j = np.arange(owner.size) - starts[owner]
    return ((sym_code[owner] >> (sym_len[owner] - 1 - j)) & 1).astype(np.uint8)


def decode_symbols(data: bytes, meta: dict[str, Any], limit: int | None = None) -> np.ndarray:
    """The symbols `encode_symbols` coded. With `limit`, more than that many is refused before
    anything that size is allocated (the runtime passes the tensor's element count)."""
    count = int(meta["count"])
    lengths = np.frombuffer(bytes.fromhex(meta["lengths"]), dtype=np.uint8).astype(np.int64)
    if count < 0 or (limit is not None and count > limit):
        raise ValueError(f"{count} coded symbols where at most {limit} fit the tensor")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    max_len = int(lengths.max(initial=0))
    if not 1 <= max_len <= MAX_CODE_LENGTH:
        raise ValueError(f"code lengths up to {max_len} bits, expected 1 to {MAX_CODE_LENGTH}")
    n_chunks = (count + CHUNK - 1) // CHUNK
    if 4 * n_chunks > len(data):
        raise ValueError("the chunk index runs past the payload")
    positions = np.frombuffer(data[: 4 * n_chunks], dtype=np.uint32).astype(np.int64)
    stream = np.frombuffer(data[4 * n_chunks :], dtype=np.uint8)
    table_sym, table_len = _lookup_table(lengths, max_len)
    # Pad so a 32-bit window can be read at any bit offset in the stream.
    padded = np.concatenate([stream, np.zeros(8, dtype=np.uint8)]).astype(np.uint64)
    out = np.zeros(n_chunks * CHUNK, dtype=np.int64)
    for step in range(CHUNK):
        # The last chunk runs past the final symbol; clamp so its garbage reads stay in bounds.
        positions = np.minimum(positions, 8 * stream.size)
        byte = positions >> 3
        window = (
            (padded[byte] << np.uint64(24))
            | (padded[byte + 1] << np.uint64(16))
            | (padded[byte + 2] << np.uint64(8))
            | padded[byte + 3]
        )
        window = (window << (positions & 7).astype(np.uint64)) & np.uint64(0xFFFFFFFF)
        key = (window >> np.uint64(32 - max_len)).astype(np.int64)
        out[step::CHUNK] = table_sym[key]
        positions = positions + table_len[key]
    return out.reshape(n_chunks, CHUNK).ravel()[:count] if n_chunks else out


def _lookup_table(lengths: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """For every max_len-bit prefix: the symbol whose code it starts with, and that length."""
    used = np.flatnonzero(lengths)
    codes = canonical_codes(np.where(lengths > 0, lengths, MAX_CODE_LENGTH + 1))
    table_sym = np.zeros(1 << max_len, dtype=np.int64)
    table_len = np.zeros(1 << max_len, dtype=np.int64)
    for sym in used:
        ln = int(lengths[sym])
        lo = int(codes[sym]) << (max_len - ln)
        table_sym[lo : lo + (1 << (max_len - ln))] = sym
        table_len[lo : lo + (1 << (max_len - ln))] = ln
    return table_sym, table_len


def _frame(parts: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(p)) + p for p in parts)


def _unframe(data: bytes) -> list[bytes]:
    parts, at = [], 0
    while at < len(data):
        (size,) = struct.unpack_from("<I", data, at)
        parts.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return parts


class HuffmanCodec:
    """Palette + Huffman-coded indices (+ Huffman-coded gaps between nonzeros)."""

    name = "huffman"

    def encode(self, array: np.ndarray) -> tuple[bytes, dict[str, Any]] | None:
        if array.dtype != np.float32 or array.size < 64:
            return None
        flat = array.ravel()
        # Cheap early exit for ordinary float weights: a sample already has too many values.
        if np.unique(flat[:4096]).size > 2048:
            return None
        if np.any(np.signbit(flat) & (flat == 0)):
            return None  # -0.0 would decode as +0.0: not lossless
        nz = np.flatnonzero(flat)
        palette, index = np.unique(flat[nz], return_inverse=True)
        if palette.size == 0 or palette.size > MAX_PALETTE or palette.size > flat.size // 4:
            return None  # all zeros is the sparse codec's case; too many values: not a palette
        sparse = self._sparse(flat, nz, palette, index)
        dense = self._dense(flat, palette)
        return min(sparse, dense, key=lambda enc: len(enc[0]))

    @staticmethod
    def _sparse(
        flat: np.ndarray, nz: np.ndarray, palette: np.ndarray, index: np.ndarray
    ) -> tuple[bytes, dict]:
        gaps = np.diff(np.concatenate([[-1], nz])) - 1
        gap_values, gap_index = np.unique(gaps, return_inverse=True)
        idx_data, idx_meta = encode_symbols(index, palette.size)
        gap_data, gap_meta = encode_symbols(gap_index, gap_values.size)
        header = {"layout": "sparse", "index": idx_meta, "gaps": gap_meta}
        parts = [
            palette.astype(np.float32).tobytes(),
            gap_values.astype(np.int64).tobytes(),
            idx_data,
            gap_data,
        ]
        return _frame([json.dumps(header).encode(), *parts]), {"layout": "sparse"}

    @staticmethod
    def _dense(flat: np.ndarray, palette: np.ndarray) -> tuple[bytes, dict]:
        full_palette = np.concatenate([[np.float32(0)], palette]).astype(np.float32)
        index = np.searchsorted(palette, flat) + 1
        index[flat == 0] = 0
        idx_data, idx_meta = encode_symbols(index, full_palette.size)
        header = {"layout": "dense", "index": idx_meta}
        return _frame([json.dumps(header).encode(), full_palette.tobytes(), idx_data]), {
            "layout": "dense"
        }

    def decode(self, data: bytes, meta: dict[str, Any]) -> np.ndarray:
        parts = _unframe(data)
        header = json.loads(parts[0])
        shape, dtype = meta["shape"], meta["dtype"]
        size = int(np.prod(shape, dtype=np.int64))
        palette = np.frombuffer(parts[1], dtype=np.float32)
        index = decode_symbols(
            parts[3] if header["layout"] == "sparse" else parts[2], header["index"], size
        )
        if header["layout"] == "dense":
            return palette[index].astype(dtype).reshape(shape)
        gap_values = np.frombuffer(parts[2], dtype=np.int64)
        gaps = gap_values[decode_symbols(parts[4], header["gaps"], size)]
        positions = np.cumsum(gaps + 1) - 1
        out = np.zeros(int(np.prod(shape)), dtype=np.float32)
        out[positions] = palette[index]
        return out.astype(dtype).reshape(shape)


def _register() -> None:
    from tinyai.runtime.codecs import register_codec

    register_codec(HuffmanCodec())


_register()
