"""Lossless weight codecs: how an artifact stores a tensor in fewer bytes (numpy only).

Export encodes each large initializer with every registered codec, keeps the smallest
encoding that decodes back bit for bit, and writes it to the artifact's packed weights file;
the runtime decodes it and hands the array to ONNX Runtime. A pruned or clustered model is
therefore really smaller on disk while the deployed graph computes exactly what was exported.

A codec is any object with this shape, registered once with `register_codec`::

    class MyCodec:
        name = "my-codec"            # stored in the manifest; never rename a shipped codec
        def encode(self, array: np.ndarray) -> tuple[bytes, dict] | None: ...
        def decode(self, data: bytes, meta: dict) -> np.ndarray: ...

`encode` returns the payload and a small JSON-able `meta` dict, or None when the codec does
not apply to this array (wrong dtype, not sparse enough...). `decode` receives that payload and
`meta` merged with two keys every codec may rely on: ``"shape"`` (list of ints) and
``"dtype"`` (numpy dtype name). Codec modules live beside this file and register themselves
at import; add a new module's name to `CODEC_MODULES`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

# Modules in this package that register codecs when imported. One that is absent from this
# checkout is skipped, so the runtime works with whichever codecs are installed.
CODEC_MODULES = ("sparse", "huffman", "lowbit")


class Codec(Protocol):
    name: str

    def encode(self, array: np.ndarray) -> tuple[bytes, dict[str, Any]] | None: ...

    def decode(self, data: bytes, meta: dict[str, Any]) -> np.ndarray: ...


class RawCodec:
    """The tensor's bytes as they are (little-endian, C order): the baseline to beat."""

    name = "raw"

    def encode(self, array: np.ndarray) -> tuple[bytes, dict[str, Any]] | None:
        return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes(), {}

    def decode(self, data: bytes, meta: dict[str, Any]) -> np.ndarray:
        dtype = np.dtype(meta["dtype"]).newbyteorder("<")
        return np.frombuffer(data, dtype=dtype).reshape(meta["shape"]).astype(meta["dtype"])


_CODECS: dict[str, Codec] = {}
_loaded = False


def register_codec(codec: Codec) -> None:
    """Make `codec` available to export (as a candidate) and to the runtime (to decode)."""
    known = _CODECS.get(codec.name)
    if known is not None and type(known) is not type(codec):
        raise ValueError(f"codec name {codec.name!r} is already registered by {type(known)}")
    _CODECS[codec.name] = codec


def _load_builtin_codecs() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in CODEC_MODULES:
        full = f"{__name__}.{module}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise


def codecs() -> list[Codec]:
    """All registered codecs, raw first."""
    _load_builtin_codecs()
    return list(_CODECS.values())


def get_codec(name: str) -> Codec:
    _load_builtin_codecs()
    try:
        return _CODECS[name]
    except KeyError:
        raise KeyError(
            f"weight codec {name!r} is not available in this tinyai "
            f"(known: {', '.join(sorted(_CODECS))}); upgrade tinyai to load this artifact"
        ) from None


def decode(
    name: str, data: bytes, meta: dict[str, Any], shape: list[int], dtype: str
) -> np.ndarray:
    """Decode one tensor and check it has the recorded shape and dtype."""
    array = get_codec(name).decode(data, {**meta, "shape": list(shape), "dtype": dtype})
    if list(array.shape) != list(shape) or array.dtype != np.dtype(dtype):
        raise ValueError(
            f"codec {name!r} decoded {array.dtype}{list(array.shape)}, "
            f"expected {dtype}{list(shape)}"
        )
    return array


def encode_smallest(array: np.ndarray) -> tuple[str, bytes, dict[str, Any]]:
    """The smallest encoding of `array` among codecs that round-trip it exactly.

    Each candidate is decoded and compared bit for bit before it is accepted, so a codec bug
    can cost bytes but never accuracy.
    """
    shape, dtype = list(array.shape), array.dtype.name
    best: tuple[str, bytes, dict[str, Any]] | None = None
    for codec in codecs():
        encoded = codec.encode(array)
        if encoded is None:
            continue
        data, meta = encoded
        if best is not None and len(data) >= len(best[1]):
            continue
        restored = decode(codec.name, data, meta, shape, dtype)
        if restored.tobytes() == np.ascontiguousarray(array).tobytes():
            best = (codec.name, data, meta)
    assert best is not None, "the raw codec always applies"
    return best


register_codec(RawCodec())

__all__ = [
    "CODEC_MODULES",
    "Codec",
    "RawCodec",
    "codecs",
    "decode",
    "encode_smallest",
    "get_codec",
    "register_codec",
]
