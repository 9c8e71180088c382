"""Run an exported artifact with numpy + onnxruntime (+ tokenizers for text, Pillow for images).

Nothing under tinyai.runtime imports torch: the package installed with only its ``runtime``
extra predicts on a device that has no PyTorch.

    from tinyai.runtime import load_artifact
    predictor = load_artifact("out/sst2-int8")       # verifies every file's sha256 first
    predictor.predict(["a gripping, funny film"])      # [{"label": "positive", "score": ...}]

`bench(artifact)` measures file size, latency, throughput and peak memory of the artifact.
"""

from __future__ import annotations

from pathlib import Path

from tinyai.runtime.bench import bench
from tinyai.runtime.manifest import read_manifest, verify_files
from tinyai.runtime.predictor import Predictor

__all__ = ["Predictor", "bench", "load_artifact", "read_manifest", "verify_files"]


def load_artifact(path: str | Path, threads: int = 1, verify: bool = True) -> Predictor:
    """Check the artifact against its manifest, then open it for prediction.

    A missing, truncated or modified file, an unlisted extra file or a manifest this runtime
    cannot read raises `tinyai.errors.ArtifactError` with a one-line reason.
    `verify=False` skips hashing (benchmarks re-opening an artifact they already checked).
    """
    from tinyai.runtime.session import create_session

    root = Path(path)
    manifest = read_manifest(root)
    if verify:
        verify_files(root, manifest)
    return Predictor(root, manifest, create_session(root, manifest, threads))
