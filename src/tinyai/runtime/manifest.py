"""The artifact manifest: what an artifact holds, and the checks that it is intact and sealed.

An artifact is a directory of plain files. ``manifest.json`` lists every other file with its
size and sha256, and carries a ``digest``: the sha256 of the manifest's own canonical JSON
(sorted keys, compact separators) without that field, so it covers every setting and, through
the file table, every file. Loading refuses, with one line each: a manifest edited after
export (digest mismatch), a malformed or out-of-bounds field (`tinyai.runtime.schema`), a
path that is absolute, climbs out with ``..`` or is not in the file table, a symbolic link or
special file anywhere in the artifact, an unlisted file, and a listed file that is missing,
truncated or altered.

What the digest protects against, and what not: it is a checksum, not a signature. It stops
tampering by editing (a changed label, normalisation or tokenizer setting, a file added to the
table, a hash replaced to match a swapped file). It does not stop a forger who rewrites the
manifest and recomputes the digest: the algorithm is public and there is no key. Against
that, get artifacts over a channel you trust; even then the runtime reads nothing outside the
artifact and allocates nothing beyond the schema's bounds, whatever the manifest says.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from tinyai import atomic
from tinyai.errors import ArtifactError
from tinyai.runtime.schema import check_manifest, safe_relative_path

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.onnx"
PACKED_WEIGHTS_NAME = "weights.packed"
FORMAT = "tinyai-artifact"
# 2: the manifest carries a digest over itself. Version 1 manifests were not sealed.
FORMAT_VERSION = 2
DIGEST_KEY = "digest"
# Where a packed initializer "lives" in model.onnx. It names no file on purpose: a plain
# onnxruntime load then fails loudly instead of reading wrong bytes; tinyai.runtime supplies
# the decoded tensors instead (SessionOptions.add_external_initializers).
PACKED_LOCATION = "tinyai-packed-weights--load-with-tinyai.runtime"

_REEXPORT = "re-export the artifact"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `manifest` without its digest field."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def file_entries(root: Path) -> dict[str, dict[str, Any]]:
    """{relative posix path: {sha256, bytes}} for every file under `root` except the manifest."""
    files, _ = _walk(root)
    return {
        rel: {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        for rel in sorted(files)
        if rel != MANIFEST_NAME
    }


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill in the file table from what is on disk now, seal it and write manifest.json."""
    # Through JSON and back, so the digest is over exactly what a reader will parse.
    sealed = json.loads(json.dumps({**manifest, "files": file_entries(root)}))
    sealed[DIGEST_KEY] = manifest_digest(sealed)
    atomic.write_text(root / MANIFEST_NAME, json.dumps(sealed, indent=2) + "\n")
    return sealed


def update_manifest(root: str | Path, **sections: Any) -> dict[str, Any]:
    """Add or replace top-level sections (e.g. ``evaluation``) of an intact artifact; re-seals."""
    root = Path(root)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    return write_manifest(root, {**manifest, **sections})


def read_manifest(root: str | Path) -> dict[str, Any]:
    """Parse manifest.json, check its digest and its fields (no hashing of the other files)."""
    root = Path(root)
    atomic.recover(root)  # an export killed mid-replace may have left the artifact aside
    if not root.is_dir():
        raise ArtifactError(
            f"{root} is not an artifact directory; pass the folder tinyai export wrote"
        )
    path = root / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        raise ArtifactError(
            f"{root} has no {MANIFEST_NAME}; it is not a tinyai artifact (re-export it)"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON ({exc.__class__.__name__}); {_REEXPORT}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a {FORMAT} manifest; {_REEXPORT}")
    _check_version(path, manifest.get("format_version"))
    try:
        intact = manifest.get(DIGEST_KEY) == manifest_digest(manifest)
    except (RecursionError, ValueError):  # nested too deep to re-encode: not ours
        intact = False
    if not intact:
        raise ArtifactError(f"{MANIFEST_NAME} was modified after export; {_REEXPORT}")
    check_manifest(manifest)
    if MODEL_NAME not in manifest["files"]:
        raise ArtifactError(f"{path} lists no {MODEL_NAME}; {_REEXPORT}")
    return manifest


def _check_version(path: Path, version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArtifactError(f"{path} has no valid format_version; {_REEXPORT}")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"artifact format {version} is newer than this runtime reads "
            f"({FORMAT_VERSION}); upgrade tinyai"
        )
    if version < FORMAT_VERSION:
        raise ArtifactError(
            f"artifact format {version} was written by an older tinyai without a sealed "
            f"manifest; {_REEXPORT} with this version"
        )


def check_layout(root: str | Path, manifest: dict[str, Any]) -> None:
    """Plain files only, every listed file present and nothing unlisted (no hashing)."""
    root = Path(root)
    files, others = _walk(root)
    if others:
        raise ArtifactError(
            f"artifact {root} contains {others[0]}, a link or special file; artifacts hold "
            f"plain files only: remove it or {_REEXPORT}"
        )
    listed: dict[str, dict[str, Any]] = manifest["files"]
    missing = sorted(set(listed) - files)
    if missing:
        raise ArtifactError(
            f"artifact file {missing[0]} is missing from {root}; re-export or restore it"
        )
    extra = sorted(files - set(listed) - {MANIFEST_NAME})
    if extra:
        raise ArtifactError(
            f"artifact {root} holds files its manifest does not list ({', '.join(extra[:3])}); "
            "remove them or re-export"
        )


def verify_files(root: str | Path, manifest: dict[str, Any]) -> None:
    """`check_layout`, then every listed file has the listed size and sha256."""
    root = Path(root)
    check_layout(root, manifest)
    for name, entry in manifest["files"].items():
        path = root / name
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


def artifact_file(root: Path, rel: Any) -> Path:
    """`root / rel` for a manifest path, refused unless it is a plain file inside `root`."""
    path = root / safe_relative_path(rel)
    try:
        regular = stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        regular = False
    if not regular:
        raise ArtifactError(f"artifact file {rel} is missing or not a plain file; {_REEXPORT}")
    # The path has no "..", so only a linked folder on the way could lead out.
    if not path.resolve().is_relative_to(root.resolve()):
        raise ArtifactError(f"artifact file {rel} lies outside {root}; {_REEXPORT}")
    return path


def unknown_files(root: Path) -> list[str] | None:
    """For `tinyai.atomic.replace_dir`: None unless `root` is a tinyai artifact, else what in
    it the manifest does not account for (unlisted files, links, empty folders).

    A tinyai artifact has a sealed manifest, or is one written before manifests were sealed
    (format 1), so that re-exporting over an older artifact keeps working.
    """
    try:
        listed = set(read_manifest(root)["files"])
    except ArtifactError:
        legacy = _format_1_file_table(root)
        if legacy is None:
            return None
        listed = legacy
    files, others = _walk(root, with_empty_dirs=True)
    return sorted((files - listed - {MANIFEST_NAME}) | set(others))


def _format_1_file_table(root: Path) -> set[str] | None:
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    files = manifest.get("files")
    if manifest.get("format_version") != 1 or not isinstance(files, dict):
        return None
    return set(files)


def _walk(root: Path, with_empty_dirs: bool = False) -> tuple[set[str], list[str]]:
    """(regular files, everything else) under `root` as relative posix paths; links are not
    followed. Empty folders count as "everything else" when asked for."""
    files: set[str] = set()
    others: list[str] = []
    for folder, dirs, names in os.walk(root):
        base = Path(folder).relative_to(root)
        for name in sorted(dirs):
            if os.path.islink(os.path.join(folder, name)):
                others.append((base / name).as_posix())
        for name in sorted(names):
            rel = (base / name).as_posix()
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if stat.S_ISREG(mode):
                files.add(rel)
            else:
                others.append(rel)
        if with_empty_dirs and not dirs and not names and folder != str(root):
            others.append(base.as_posix() + "/")
    return files, others
