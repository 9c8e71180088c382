"""The artifact manifest: what an artifact holds, and the check that it is intact.

An artifact is a directory. ``manifest.json`` lists every other file with its size and
sha256; loading refuses an artifact whose files are missing, extra-truncated, altered, or
whose manifest does not describe a model this runtime can run. Each refusal is one line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tinyai.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.onnx"
PACKED_WEIGHTS_NAME = "weights.packed"
FORMAT = "tinyai-artifact"
FORMAT_VERSION = 1
# Where a packed initializer "lives" in model.onnx. It names no file on purpose: a plain
# onnxruntime load then fails loudly instead of reading wrong bytes; tinyai.runtime supplies
# the decoded tensors instead (SessionOptions.add_external_initializers).
PACKED_LOCATION = "tinyai-packed-weights--load-with-tinyai.runtime"

REQUIRED_KEYS = ("format", "format_version", "task", "kind", "inputs", "outputs", "files")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(root: Path) -> dict[str, dict[str, Any]]:
    """{relative posix path: {sha256, bytes}} for every file under `root` except the manifest."""
    entries = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST_NAME:
            entries[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return entries


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill in the file table from what is on disk now and write manifest.json."""
    manifest = {**manifest, "files": file_entries(root)}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


def update_manifest(root: str | Path, **sections: Any) -> dict[str, Any]:
    """Add or replace top-level manifest sections (e.g. ``evaluation``) of an intact artifact."""
    root = Path(root)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    return write_manifest(root, {**manifest, **sections})


def read_manifest(root: str | Path) -> dict[str, Any]:
    """Parse and sanity-check manifest.json (no hashing)."""
    root = Path(root)
    if not root.is_dir():
        raise ArtifactError(
            f"{root} is not an artifact directory; pass the folder tinyai export wrote"
        )
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(
            f"{root} has no {MANIFEST_NAME}; it is not a tinyai artifact (re-export it)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON ({exc.__class__.__name__}); re-export the artifact"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a {FORMAT} manifest; re-export the artifact")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}; re-export the artifact")
    if int(manifest["format_version"]) > FORMAT_VERSION:
        raise ArtifactError(
            f"artifact format {manifest['format_version']} is newer than this runtime reads "
            f"({FORMAT_VERSION}); upgrade tinyai"
        )
    if MODEL_NAME not in manifest["files"]:
        raise ArtifactError(f"{path} lists no {MODEL_NAME}; re-export the artifact")
    return manifest


def verify_files(root: str | Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists with the listed size and sha256, and nothing is unlisted."""
    root = Path(root)
    listed: dict[str, dict[str, Any]] = manifest["files"]
    for name, entry in listed.items():
        path = root / name
        if not path.is_file():
            raise ArtifactError(
                f"artifact file {name} is missing from {root}; re-export or restore it"
            )
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise ArtifactError(
                f"artifact file {name} has {size} bytes, the manifest says {entry['bytes']} "
                "(truncated or replaced); re-export or restore it"
            )
        if sha256_file(path) != entry["sha256"]:
            raise ArtifactError(
                f"artifact file {name} does not match its sha256 in the manifest (modified); "
                "re-export or restore it"
            )
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    extra = sorted(on_disk - set(listed) - {MANIFEST_NAME})
    if extra:
        raise ArtifactError(
            f"artifact {root} holds files its manifest does not list ({', '.join(extra[:3])}); "
            "remove them or re-export"
        )
