"""Move large initializers out of model.onnx into a file of losslessly packed tensors.

Each initializer of at least `min_bytes` is encoded with the smallest registered codec
(`tinyai.runtime.codecs.encode_smallest`); only tensors whose best codec beats their plain
bytes are moved, so a dense float model stays a plain ONNX file any runtime can open. In
model.onnx a moved tensor keeps its name, type and shape but its data is marked external
(location `PACKED_LOCATION`); tinyai.runtime decodes and supplies it at load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.runtime import codecs
from tinyai.runtime.manifest import PACKED_LOCATION, PACKED_WEIGHTS_NAME

if TYPE_CHECKING:
    import onnx

# ONNX types numpy represents exactly; others (int4, float8, bfloat16) stay in the graph.
_PACKABLE = {"float32", "float16", "float64", "int8", "uint8", "int16", "uint16", "int32", "int64"}


def pack_initializers(
    proto: onnx.ModelProto, out_dir: Path, min_bytes: int, min_saving: float
) -> dict[str, Any] | None:
    """Pack what is worth packing in place; returns the manifest's ``packed_weights`` or None.

    Nothing is packed unless it makes the artifact at least `min_saving` (a fraction) smaller:
    a dense model should stay a plain ONNX file rather than need tinyai to open it for the
    sake of a few all-zero buffers.
    """
    from onnx import numpy_helper

    chosen: list[tuple[onnx.TensorProto, np.ndarray, str, bytes, dict[str, Any]]] = []
    for init in proto.graph.initializer:
        if init.data_location == init.EXTERNAL:
            continue
        array = numpy_helper.to_array(init)
        if array.dtype.name not in _PACKABLE or array.nbytes < max(min_bytes, 1):
            continue
        name, data, meta = codecs.encode_smallest(array)
        if name != "raw" and len(data) < array.nbytes:
            chosen.append((init, array, name, data, meta))
    saved = sum(array.nbytes - len(data) for _, array, _, data, _ in chosen)
    if not chosen or saved < min_saving * proto.ByteSize():
        return None
    entries, offset = [], 0
    with (out_dir / PACKED_WEIGHTS_NAME).open("wb") as fh:
        for init, array, codec, data, meta in chosen:
            fh.write(data)
            entries.append(
                {
                    "name": init.name,
                    "codec": codec,
                    "offset": offset,
                    "length": len(data),
                    "shape": list(array.shape),
                    "dtype": array.dtype.name,
                    "meta": meta,
                    "raw_bytes": int(array.nbytes),
                }
            )
            offset += len(data)
            _mark_external(init, array.nbytes)
    return {"file": PACKED_WEIGHTS_NAME, "tensors": entries}


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
