"""An onnxruntime session for an artifact, with packed weights decoded and injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError
from tinyai.runtime import codecs
from tinyai.runtime.manifest import MODEL_NAME


def read_packed_weights(root: Path, packed: dict[str, Any]) -> dict[str, np.ndarray]:
    """Decode every tensor listed in the manifest's ``packed_weights`` section."""
    data = (root / packed["file"]).read_bytes()
    tensors = {}
    for entry in packed["tensors"]:
        start, length = int(entry["offset"]), int(entry["length"])
        if start + length > len(data):
            raise ArtifactError(
                f"packed tensor {entry['name']} lies past the end of {packed['file']}; re-export"
            )
        try:
            tensors[entry["name"]] = codecs.decode(
                entry["codec"],
                data[start : start + length],
                entry.get("meta", {}),
                entry["shape"],
                entry["dtype"],
            )
        except (KeyError, ValueError) as exc:
            raise ArtifactError(f"cannot decode packed tensor {entry['name']}: {exc}") from None
    return tensors


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
            str(root / MODEL_NAME), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"onnxruntime cannot load {root / MODEL_NAME}: {first}") from None
