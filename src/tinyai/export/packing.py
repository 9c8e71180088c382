"""Move initializers out of model.onnx into a file of losslessly packed tensors.

Each initializer of at least `min_bytes` is encoded with the smallest registered codec
(`tinyai.runtime.codecs.encode_smallest`); only tensors whose encoding beats their plain bytes
by more than what packing them costs in bookkeeping are moved, so a dense float model stays a
plain ONNX file any runtime can open. In
model.onnx a moved tensor keeps its name, type and shape but its data is marked external
(location `PACKED_LOCATION`); tinyai.runtime decodes and supplies it at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.runtime import codecs
from tinyai.runtime.manifest import PACKED_LOCATION, PACKED_WEIGHTS_NAME
from tinyai.runtime.onnx_proto import NUMPY_DTYPES

if TYPE_CHECKING:
    import onnx

# ONNX types numpy represents exactly; others (int4, float8, bfloat16) stay in the graph.
# The runtime owns the list: it refuses any other dtype in a manifest.
_PACKABLE = set(NUMPY_DTYPES.values())


@dataclass
class _Packed:
    """One initializer with its best encoding and what moving it out of the graph saves."""

    init: onnx.TensorProto
    array: np.ndarray
    codec: str
    data: bytes
    meta: dict[str, Any]
    net_saving: int = 0  # artifact bytes saved, bookkeeping included (may be negative)

    def entry(self, offset: int) -> dict[str, Any]:
        """The tensor's entry in the manifest's ``packed_weights`` index."""
        return {
            "name": self.init.name,
            "codec": self.codec,
            "offset": offset,
            "length": len(self.data),
            "shape": list(self.array.shape),
            "dtype": self.array.dtype.name,
            "meta": self.meta,
            "raw_bytes": int(self.array.nbytes),
        }


def pack_initializers(
    proto: onnx.ModelProto, out_dir: Path, min_bytes: int, min_saving: float
) -> dict[str, Any] | None:
    """Pack what is worth packing in place; returns the manifest's ``packed_weights`` or None.

    A tensor is packed when its encoding plus its bookkeeping (manifest entry, external-data
    reference left in the graph) is smaller than the bytes it takes in the graph, so small
    tensors are packed too when that pays. Nothing is packed unless, after the fixed cost of
    a packed file (its index and its line in the manifest's file table), the artifact gets at
    least `min_saving` (a fraction) smaller: a dense model should stay a plain ONNX file rather
    than need tinyai to open it for the sake of a few all-zero buffers.
    """
    encoded = (_encode(init, min_bytes) for init in proto.graph.initializer)
    candidates = [c for c in encoded if c is not None]
    # Offsets are unknown until the chosen set is; the largest possible one bounds the cost.
    widest_offset = sum(len(c.data) for c in candidates)
    for c in candidates:
        c.net_saving = _graph_bytes_freed(c) - len(c.data) - _entry_cost(c.entry(widest_offset))
    chosen = [c for c in candidates if c.net_saving > 0]
    saved = sum(c.net_saving for c in chosen) - _section_cost()
    if not chosen or saved < max(min_saving * proto.ByteSize(), 1):
        return None
    entries, offset = [], 0
    with (out_dir / PACKED_WEIGHTS_NAME).open("wb") as fh:
        for c in chosen:
            fh.write(c.data)
            entries.append(c.entry(offset))
            offset += len(c.data)
            _mark_external(c.init, c.array.nbytes)
    return {"file": PACKED_WEIGHTS_NAME, "tensors": entries}


def _encode(init: onnx.TensorProto, min_bytes: int) -> _Packed | None:
    """The initializer's smallest lossless encoding, if one beats its plain bytes."""
    from onnx import numpy_helper

    if init.data_location == init.EXTERNAL:
        return None
    array = numpy_helper.to_array(init)
    if array.dtype.name not in _PACKABLE or array.nbytes < max(min_bytes, 1):
        return None
    name, data, meta = codecs.encode_smallest(array)
    if name == "raw" or len(data) >= array.nbytes:
        return None
    return _Packed(init, array, name, data, meta)


def _graph_bytes_freed(packed: _Packed) -> int:
    """How much smaller model.onnx gets when this tensor's data becomes an external reference."""
    import onnx

    stub = onnx.TensorProto(name=packed.init.name, data_type=packed.init.data_type)
    stub.dims.extend(packed.init.dims)
    _mark_external(stub, packed.array.nbytes)
    return packed.init.ByteSize() - stub.ByteSize()


def _json_bytes(obj: Any) -> int:
    # Formatted as tinyai.runtime.manifest.write_manifest writes manifest.json.
    return len(json.dumps(obj, indent=2).encode())


def _entry_cost(entry: dict[str, Any]) -> int:
    """Bytes one more index entry adds to manifest.json, at the depth and indent it is written."""
    one = {"packed_weights": {"file": PACKED_WEIGHTS_NAME, "tensors": [entry]}}
    two = {"packed_weights": {"file": PACKED_WEIGHTS_NAME, "tensors": [entry, entry]}}
    return _json_bytes(two) - _json_bytes(one)


def _section_cost() -> int:
    """Fixed manifest bytes of having a packed file at all: its section and its file-table line."""
    row = {"sha256": "0" * 64, "bytes": 0}
    with_file = {
        "packed_weights": {"file": PACKED_WEIGHTS_NAME, "tensors": []},
        "files": {PACKED_WEIGHTS_NAME: row},
    }
    return _json_bytes(with_file) - _json_bytes({"packed_weights": None, "files": {}})


def _mark_external(init: onnx.TensorProto, nbytes: int) -> None:
    """Drop the tensor's bytes from the graph and point it at the packed store."""
    for field in (
        "raw_data",
        "float_data",
        "int32_data",
        "int64_data",
        "double_data",
        "uint64_data",
    ):
        init.ClearField(field)
    init.data_location = init.EXTERNAL
    del init.external_data[:]
    for key, value in (("location", PACKED_LOCATION), ("offset", "0"), ("length", str(nbytes))):
        entry = init.external_data.add()
        entry.key, entry.value = key, value


def weight_stats(proto: onnx.ModelProto) -> dict[str, Any]:
    """What the exported graph stores, measured: tensor elements and bytes by ONNX type, zeros.

    Elements are stored elements: a 4-bit weight packed two per uint8 counts as half an
    element of uint8, which is what the file holds.
    """
    from onnx import helper, numpy_helper

    elements: dict[str, int] = {}
    nbytes: dict[str, int] = {}
    zeros = float_elements = 0
    for init in proto.graph.initializer:
        count = int(np.prod(init.dims)) if len(init.dims) else 1
        onnx_type = helper.tensor_dtype_to_string(init.data_type).removeprefix("TensorProto.")
        onnx_type = onnx_type.lower()
        array = numpy_helper.to_array(init)
        elements[onnx_type] = elements.get(onnx_type, 0) + count
        nbytes[onnx_type] = nbytes.get(onnx_type, 0) + int(array.nbytes)
        if array.dtype.kind == "f":
            float_elements += count
            zeros += int(count - np.count_nonzero(array))
    return {
        "elements": sum(elements.values()),
        "elements_by_dtype": elements,
        "bytes_by_dtype": nbytes,
        "float_zero_fraction": round(zeros / float_elements, 6) if float_elements else 0.0,
    }
