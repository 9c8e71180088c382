"""How many bytes an artifact takes: one rule, used by every report (no torch).

The artifact is every file its manifest lists plus ``manifest.json`` itself: what a device
must hold to run it (graph, packed weights, tokenizer, manifest). Sizes are read from the
files on disk, not from the manifest's own record of them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from tinyai.runtime.manifest import MANIFEST_NAME, read_manifest


def artifact_bytes(root: str | Path, tokenizer: bool = True) -> int:
    """Bytes of the artifact at `root` on disk, manifest included.

    `tokenizer=False` leaves out the tokenizer's folder (``tokenizer/``), for comparisons with
    tools whose reported size covers the model and its metadata only (a Hugging Face or ONNX
    model's file size); say which of the two a figure is.
    """
    root = Path(root)
    manifest = read_manifest(root)
    names = [*manifest["files"], MANIFEST_NAME]
    folder = _tokenizer_folder(manifest)
    if not tokenizer and folder is not None:
        names = [n for n in names if not PurePosixPath(n).is_relative_to(folder)]
    return sum((root / name).stat().st_size for name in names)


def _tokenizer_folder(manifest: dict[str, Any]) -> PurePosixPath | None:
    """The folder of the tokenizer file the preprocessing names (text artifacts only)."""
    settings = manifest.get("preprocessing") or {}
    file = settings.get("tokenizer") if isinstance(settings, dict) else None
    return PurePosixPath(file).parent if isinstance(file, str) else None
