"""An onnxruntime session for an artifact, with packed weights checked, decoded and injected."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError
from tinyai.runtime import codecs, onnx_proto
from tinyai.runtime.manifest import MODEL_NAME, PACKED_LOCATION, artifact_file

# The most bytes one decoded packed tensor may take. No weight of an on-device model comes
# close; it bounds what a forged manifest can make the runtime allocate.
MAX_TENSOR_BYTES = 1 << 31
# What a codec may raise on a damaged or forged payload.
_DECODE_ERRORS = (KeyError, ValueError, TypeError, IndexError, OverflowError, struct.error)


def read_packed_weights(root: Path, packed: dict[str, Any]) -> dict[str, np.ndarray]:
    """Decode every tensor listed in the manifest's ``packed_weights`` section.

    Every entry is checked before anything is read or allocated: its initializer in
    model.onnx is marked as packed and has the entry's dims and dtype, the decoded tensor
    takes at most `MAX_TENSOR_BYTES`, its bytes lie inside the packed file and its codec is
    known.
    """
    path = artifact_file(root, packed.get("file"))
    graph = onnx_proto.initializers(artifact_file(root, MODEL_NAME))
    entries = packed.get("tensors")
    if not isinstance(entries, list):
        raise ArtifactError("the manifest's packed_weights.tensors is not a list; re-export")
    for entry in entries:
        _check_entry(entry, graph, path.stat().st_size, str(packed["file"]))
    data = path.read_bytes()
    tensors = {}
    for entry in entries:
        start, length = entry["offset"], entry["length"]
        try:
            tensors[entry["name"]] = codecs.decode(
                entry["codec"],
                data[start : start + length],
                entry.get("meta", {}),
                entry["shape"],
                entry["dtype"],
            )
        except _DECODE_ERRORS as exc:
            raise ArtifactError(f"cannot decode packed tensor {entry['name']}: {exc}") from None
    return tensors


def _check_entry(entry: Any, graph: dict[str, onnx_proto.Initializer], file_size: int,
                 file: str) -> None:
    try:
        name, codec, dtype = entry["name"], entry["codec"], entry["dtype"]
        shape, offset, length = list(entry["shape"]), entry["offset"], entry["length"]
        ints = [*shape, offset, length]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            raise TypeError
    except (KeyError, TypeError):
        raise ArtifactError(
            f"a packed_weights entry in the manifest is malformed ({str(entry)[:60]}); re-export"
        ) from None
    if dtype not in onnx_proto.NUMPY_DTYPES.values():
        raise ArtifactError(f"packed tensor {name} has dtype {dtype!r}, which is not packable; "
                            "re-export")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise ArtifactError(
            f"packed tensor {name} would take {nbytes:,} bytes, more than the "
            f"{MAX_TENSOR_BYTES:,} a tensor may; re-export the artifact"
        )
    init = graph.get(name)
    if init is None or not init.external or init.location != PACKED_LOCATION:
        raise ArtifactError(f"packed tensor {name} is not a packed initializer of {MODEL_NAME}; "
                            "re-export")
    if list(init.dims) != shape or init.dtype != dtype:
        raise ArtifactError(
            f"packed tensor {name} is {dtype}{shape} but {MODEL_NAME} declares "
            f"{init.dtype}{list(init.dims)}; re-export"
        )
    if offset + length > file_size:
        raise ArtifactError(f"packed tensor {name} lies past the end of {file}; re-export")
    try:
        codecs.get_codec(codec)
    except KeyError as exc:
        raise ArtifactError(str(exc.args[0])) from None


def session_options(threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One intra-op thread by default: on-device numbers are single-core numbers, and a
    # benchmark that silently uses every core of a workstation misleads.
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; shape-hint warnings are noise to a user
    return options


def create_session(root: Path, manifest: dict[str, Any], threads: int = 1) -> Any:
    """An InferenceSession on the artifact's model, packed weights supplied from memory."""
    import onnxruntime as ort

    options = session_options(threads)
    packed = manifest.get("packed_weights")
    if packed:
        tensors = read_packed_weights(root, packed)
        # ORT copies these into the graph while the session is built, so the arrays only
        # need to live until InferenceSession returns.
        values = [
            ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(t)) for t in tensors.values()
        ]
        options.add_external_initializers(list(tensors), values)
    try:
        return ort.InferenceSession(
            str(artifact_file(root, MODEL_NAME)), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"onnxruntime cannot load {root / MODEL_NAME}: {first}") from None
