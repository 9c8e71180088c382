"""What a tensor really stores: bytes by dtype (sub-byte and wrapper tensors included),
non-zeros, and bytes under the smallest lossless codec (what an artifact ships)."""

from __future__ import annotations

import math
import re

import torch
from torch.utils._python_dispatch import is_traceable_wrapper_subclass


def inner_tensors(tensor: torch.Tensor) -> list[torch.Tensor] | None:
    """The plain tensors a wrapper subclass (e.g. torchao's quantized weights) really stores."""
    if not is_traceable_wrapper_subclass(tensor):
        return None
    names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]
    return [getattr(tensor, n) for n in names]


def leaf_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    inner = inner_tensors(tensor)
    if inner is None:
        return [tensor]
    return [leaf for t in inner for leaf in leaf_tensors(t)]


PACKABLE = (torch.float32, torch.float16, torch.float64)


def packed_bytes(tensor: torch.Tensor) -> int:
    """Bytes under the smallest lossless codec (sparse, palette + Huffman, or raw)."""
    if inner_tensors(tensor) is not None or tensor.dtype not in PACKABLE:
        return storage_bytes(tensor)
    from tinyai.runtime.codecs import encode_smallest

    return len(encode_smallest(tensor.detach().cpu().contiguous().numpy())[1])


def storage_bytes(tensor: torch.Tensor) -> int:
    inner = inner_tensors(tensor)
    if inner is not None:
        return sum(storage_bytes(t) for t in inner)
    return math.ceil(tensor.numel() * dtype_bits(tensor.dtype) / 8)


def dtype_bits(dtype: torch.dtype) -> int:
    match = re.fullmatch(r"torch\.u?int([1-7])", str(dtype))  # torch.uint4, torch.int2, ...
    if match:
        return int(match.group(1))
    return 1 if str(dtype) == "torch.bool" else dtype.itemsize * 8


def dtype_label(tensor: torch.Tensor) -> str:
    inner = inner_tensors(tensor)
    if inner:
        tensor = max(inner, key=lambda t: t.numel())  # the payload, not its scales
    return str(tensor.dtype).removeprefix("torch.")


def count_nonzero(tensor: torch.Tensor) -> int:
    inner = inner_tensors(tensor)
    if inner is not None and callable(getattr(tensor, "dequantize", None)):
        tensor = tensor.dequantize()  # type: ignore[operator]
    elif inner is not None:
        tensor = max(inner, key=lambda t: t.numel())
    return int(torch.count_nonzero(tensor.detach()))
