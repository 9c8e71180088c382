"""The top-level initializers of a model.onnx (name, dims, type), read without the onnx package.

The runtime has no `onnx` dependency, yet it must check each packed tensor of an artifact
against the initializer it replaces *before* decoding it: same shape, same type, and marked
as living in the packed store. This reads just that from the protobuf wire format
(ModelProto.graph -> GraphProto.initializer -> TensorProto), skipping everything else by its
length, so a 90 MB model is scanned in milliseconds without being copied. A malformed file is
an ArtifactError, never an unbounded read.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tinyai.errors import ArtifactError

# ONNX element types numpy represents exactly: the dtypes a packed tensor may have.
NUMPY_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
    6: "int32", 7: "int64", 10: "float16", 11: "float64",
}
# Field numbers in onnx.proto.
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME = 1, 2, 8
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 13, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Initializer:
    name: str
    dims: tuple[int, ...]
    data_type: int
    external: bool
    location: str | None  # the external_data "location" value, when there is one

    @property
    def dtype(self) -> str | None:
        return NUMPY_DTYPES.get(self.data_type)


def initializers(model: Path) -> dict[str, Initializer]:
    """name -> Initializer for the main graph's initializers of the ONNX file `model`."""
    try:
        with model.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                return _graph_initializers(view)
            finally:
                view.release()
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{model.name} is not a readable ONNX model ({exc}); re-export the artifact"
        ) from None


def _graph_initializers(buf: memoryview) -> dict[str, Initializer]:
    graph = None
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == _MODEL_GRAPH and wire == _LEN:
            graph = value
    if graph is None:
        raise ValueError("no graph")
    found = {}
    for number, wire, value in _fields(buf, *graph):
        if number == _GRAPH_INITIALIZER and wire == _LEN:
            tensor = _tensor(buf, *value)
            found[tensor.name] = tensor
    return found


def _tensor(buf: memoryview, start: int, end: int) -> Initializer:
    dims: list[int] = []
    name, data_type, location_flag, location = "", 0, 0, None
    for number, wire, value in _fields(buf, start, end):
        if number == _TENSOR_DIMS and wire == _VARINT:
            dims.append(_signed(value))
        elif number == _TENSOR_DIMS and wire == _LEN:  # packed repeated int64
            pos, stop = value
            while pos < stop:
                dim, pos = _varint(buf, pos, stop)
                dims.append(_signed(dim))
        elif number == _TENSOR_TYPE and wire == _VARINT:
            data_type = value
        elif number == _TENSOR_NAME and wire == _LEN:
            name = bytes(buf[value[0] : value[1]]).decode("utf-8")
        elif number == _TENSOR_DATA_LOCATION and wire == _VARINT:
            location_flag = value
        elif number == _TENSOR_EXTERNAL_DATA and wire == _LEN:
            key, text = _entry(buf, *value)
            if key == "location":
                location = text
    return Initializer(name, tuple(dims), data_type, location_flag == _EXTERNAL, location)


def _entry(buf: memoryview, start: int, end: int) -> tuple[str, str]:
    """A StringStringEntryProto as (key, value)."""
    key = text = ""
    for number, wire, value in _fields(buf, start, end):
        if wire == _LEN and number in (_ENTRY_KEY, _ENTRY_VALUE):
            decoded = bytes(buf[value[0] : value[1]]).decode("utf-8")
            key, text = (decoded, text) if number == _ENTRY_KEY else (key, decoded)
    return key, text


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one message; LEN values are (start, end) spans."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
            continue
        if wire == _LEN:
            length, pos = _varint(buf, pos, end)
            size = length
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos + size > end:
            raise ValueError("a field runs past the end of its message")
        yield number, wire, (pos, pos + size)
        pos += size


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
