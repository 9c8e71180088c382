"""``model.safetensors``: the state dict, sparse tensors packed, tied tensors stored once.

A tensor that the lossless sparse codec (`tinyai.runtime.codecs.sparse`) stores in fewer
bytes is replaced by its uint8 payload under the same key, and the header's metadata
(``tinyai``: ``packed``) says how to decode it; a tensor that shares its storage with an earlier
key (tied weights) is left out and named in ``aliases``; ``order`` keeps the
state dict's key order, which safetensors does not. Reading gives back the exact state dict,
bit for bit, in its order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tinyai.errors import ModelError

WEIGHTS = "model.safetensors"
_METADATA = "tinyai"  # header metadata: {"packed": ..., "aliases": ..., "order": ...}
_PACKED, _ALIASES, _ORDER = "packed", "aliases", "order"
# numpy has no bfloat16, and the codecs are numpy: such tensors are stored as they are.
_CODEC_DTYPES = {
    torch.float64, torch.float32, torch.float16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool,
}  # fmt: skip


def write_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    from tinyai.runtime.codecs.sparse import SparseCodec

    codec = SparseCodec()
    tensors: dict[str, torch.Tensor] = {}
    packed: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for key, value in state.items():
        tensor = value.detach().cpu()
        identity = _storage_identity(tensor)
        if identity in seen:
            aliases[key] = seen[identity]
            continue
        seen[identity] = key
        # A copy of its own: safetensors refuses tensors that overlap another key's memory.
        tensor = tensor.contiguous().clone()
        array = tensor.numpy() if tensor.dtype in _CODEC_DTYPES else None
        encoded = codec.encode(array) if array is not None else None
        if array is not None and encoded is not None and len(encoded[0]) < array.nbytes:
            data, meta = encoded
            tensors[key] = (
                torch.frombuffer(bytearray(data), dtype=torch.uint8)
                if data
                else torch.zeros(0, dtype=torch.uint8)  # an all-zero tensor: nothing to store
            )
            shape, dtype = list(array.shape), array.dtype.name
            packed[key] = {"codec": codec.name, "meta": meta, "shape": shape, "dtype": dtype}
        else:
            tensors[key] = tensor
    # One metadata key: safetensors keeps the header's metadata in a hash map, whose order
    # changes from process to process, so several keys would make equal models unequal files.
    info = {_PACKED: packed, _ALIASES: aliases, _ORDER: list(state)}
    save_file(tensors, str(path), metadata={_METADATA: json.dumps(info, sort_keys=True)})


def _storage_identity(tensor: torch.Tensor) -> tuple[Any, ...]:
    """Equal for two views of the same elements (a tied weight under two names)."""
    if tensor.numel() == 0:
        return ("empty", id(tensor))
    return (
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict `write_weights` stored at `path`, packed tensors decoded."""
    from safetensors import safe_open

    from tinyai.runtime.codecs import decode

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
        info = json.loads(metadata.get(_METADATA, "{}"))
        packed, aliases, order = info.get(_PACKED, {}), info.get(_ALIASES, {}), info.get(_ORDER, [])
    except (OSError, SafetensorError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {path} ({exc}); save the model again") from None
    for key, entry in packed.items():
        payload = state[key].numpy().tobytes()
        array = decode(entry["codec"], payload, entry["meta"], entry["shape"], entry["dtype"])
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
    for alias, target in aliases.items():
        state[alias] = state[target]
    return {key: state[key] for key in [*order, *sorted(set(state) - set(order))]}
