"""Run an exported artifact with numpy + onnxruntime (+ tokenizers for text, Pillow for images).

Nothing under tinyai.runtime imports torch: the package installed with only its ``runtime``
extra predicts on a device that has no PyTorch.

    from tinyai.runtime import load_artifact
    predictor = load_artifact("out/sst2-int8")       # verifies the sealed manifest and files
    predictor.predict(["a gripping, funny film"])      # [{"label": "positive", "score": ...}]

`bench(artifact)` measures file size, latency, throughput and peak memory of the artifact.
"""

from __future__ import annotations

from pathlib import Path

from tinyai.runtime.bench import bench
from tinyai.runtime.manifest import check_layout, read_manifest, verify_files
from tinyai.runtime.predictor import Predictor

__all__ = ["Predictor", "bench", "load_artifact", "read_manifest", "verify_files"]


def load_artifact(path: str | Path, threads: int = 1, verify: bool = True) -> Predictor:
    """Check the artifact against its sealed manifest, then open it for prediction.

    Everything is checked before onnxruntime or the tokenizer opens a file: the manifest's
    digest and fields, that every path stays inside the artifact, that it holds plain listed
    files only, and every file's size and sha256. Any failure raises
    `tinyai.errors.ArtifactError` with a one-line reason. `verify=False` skips only the
    hashing (benchmarks re-opening an artifact they already checked).
    """
    from tinyai.runtime.session import create_session

    root = Path(path)
    manifest = read_manifest(root)
    if verify:
        verify_files(root, manifest)
    else:
        check_layout(root, manifest)
    return Predictor(root, manifest, create_session(root, manifest, threads))
