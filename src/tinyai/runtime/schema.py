"""The shape of a manifest: each field the runtime reads, with its type, bounds and paths.

`check_manifest` runs after the digest check and before any other file is opened. A manifest
whose digest matches can still be wrong (a forger can recompute the digest; a buggy writer
can write nonsense), so every field the runtime uses is checked here and a bad one is one
line naming it, never a traceback, a read outside the artifact or an unbounded allocation.
Fields the runtime does not read (history, metrics, export details) may hold anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from tinyai.errors import ArtifactError

Check = Callable[[Any, str], None]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_BIG = 1 << 50  # a byte count or offset no real file reaches
_PREPROCESSING_TYPES = ("text", "image", "audio", "chars", "arrays")
_ARRAY_DTYPES = ("float32", "int64")


class _Bad(Exception):
    def __init__(self, where: str, expected: str, value: Any) -> None:
        shown = repr(value)
        super().__init__(f"{where} must be {expected}, got {shown[:60]}")


def check_manifest(manifest: dict[str, Any]) -> None:
    """Raise a one-line ArtifactError naming the first field that is missing or malformed."""
    try:
        _MANIFEST(manifest, "")
        _PREPROCESSING[manifest["preprocessing"]["type"]](manifest["preprocessing"],
                                                          "preprocessing")
        for where, rel in referenced_paths(manifest):
            _path(rel, where)
            if rel not in manifest["files"]:
                raise _Bad(where, "a file listed in the manifest's file table", rel)
        _check_label_count(manifest)
    except _Bad as exc:
        raise ArtifactError(f"manifest.json: {exc}; re-export the artifact") from None


def referenced_paths(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, relative path) for every file the manifest points at besides its file table."""
    refs = [("model.file", (manifest.get("model") or {}).get("file"))]
    refs.append(("packed_weights.file", (manifest.get("packed_weights") or {}).get("file")))
    refs.append(("preprocessing.tokenizer", manifest["preprocessing"].get("tokenizer")))
    for name, other in (manifest.get("other_formats") or {}).items():
        refs.append((f"other_formats.{name}.file", other.get("file")))
    return [(where, rel) for where, rel in refs if rel is not None]


def _check_label_count(manifest: dict[str, Any]) -> None:
    """A name for every score the model outputs, or predict() would index past the list."""
    names, scores = manifest.get("label_names"), manifest["outputs"][0]["shape"][-1:]
    if names is not None and scores and isinstance(scores[0], int) and len(names) < scores[0]:
        raise _Bad("label_names", f"a list of {scores[0]} names, one per output score", names)


def safe_relative_path(value: Any, where: str = "path") -> str:
    """`value` if it is a relative path that stays inside its folder, else ArtifactError."""
    try:
        _path(value, where)
    except _Bad as exc:
        raise ArtifactError(f"manifest.json: {exc}; re-export the artifact") from None
    return str(value)


# ---------------------------------------------------------------------------- primitives
def _int(lo: int = 0, hi: int = _BIG) -> Check:
    def check(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Bad(where, f"an integer in [{lo}, {hi}]", value)

    return check


def _num(lo: float, hi: float, low_open: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and lo <= value <= hi and not (low_open and value == lo)
        if not ok:
            raise _Bad(where, f"a number in {'(' if low_open else '['}{lo}, {hi}]", value)

    return check


def _str(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise _Bad(where, "a non-empty string", value)


def _text(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _Bad(where, "a string", value)


def _bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _Bad(where, "true or false", value)


def _hex64(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _Bad(where, "a sha256 hex digest", value)


def _path(value: Any, where: str) -> None:
    """Relative, '/'-separated, no '..', '.', empty part, drive or backslash: stays inside."""
    if not isinstance(value, str) or not value or "\\" in value or "\x00" in value:
        raise _Bad(where, "a relative path inside the artifact", value)
    parts = value.split("/")
    absolute = PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive
    if absolute or any(part in ("", ".", "..") for part in parts):
        raise _Bad(where, "a relative path inside the artifact", value)


def _one_of(*choices: str) -> Check:
    def check(value: Any, where: str) -> None:
        if value not in choices:
            raise _Bad(where, f"one of {', '.join(choices)}", value)

    return check


def _nullable(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)

    return check


def _list(item: Check, min_len: int = 0, max_len: int = 1 << 20) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list) or not min_len <= len(value) <= max_len:
            raise _Bad(where, f"a list of {min_len} to {max_len} items", value)
        for i, element in enumerate(value):
            item(element, f"{where}[{i}]")

    return check


def _mapping(item: Check, key: Check = _str) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Bad(where, "an object", value)
        for name, element in value.items():
            key(name, f"{where} entry")
            item(element, f"{where}[{name!r}]")

    return check


def _record(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """An object with these keys checked; other keys may hold anything (informational)."""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Bad(where, "an object", value)
        for name, field in required.items():
            if name not in value:
                raise _Bad(_join(where, name), "present", "nothing")
            field(value[name], _join(where, name))
        for name, field in (optional or {}).items():
            if name in value:
                field(value[name], _join(where, name))

    return check


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _dim(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        _int(0, 1 << 40)(value, where)


# ------------------------------------------------------------------------------- schema
_IO = _list(_record({"name": _str, "dtype": _str, "shape": _list(_dim, max_len=16)}),
            min_len=1, max_len=64)
_PACKED_TENSOR = _record({
    "name": _str,
    "codec": _str,
    "offset": _int(),
    "length": _int(),
    "shape": _list(_int(0, 1 << 40), max_len=16),
    "dtype": _str,
    "meta": _mapping(lambda value, where: None),
})
_MANIFEST = _record(
    {
        "format": _str,
        "format_version": _int(),
        "task": _str,
        "kind": _str,
        "inputs": _IO,
        "outputs": _IO,
        "files": _mapping(_record({"sha256": _hex64, "bytes": _int()}), key=_path),
        "preprocessing": _record({"type": _one_of(*_PREPROCESSING_TYPES)}),
        "digest": _hex64,
    },
    {
        "label_names": _nullable(_list(_text, min_len=1)),
        "model": _nullable(_record({}, {"file": _path})),
        "packed_weights": _nullable(_record({"file": _path, "tensors": _list(_PACKED_TENSOR)})),
        "other_formats": _nullable(_mapping(_record({}, {"file": _path}))),
    },
)
_PREPROCESSING: dict[str, Check] = {
    "text": _record(
        {"tokenizer": _path, "max_length": _int(1, 1 << 16)},
        {"pad_token_id": _int(0, 1 << 31), "text_pair": _bool, "lowercase": _bool},
    ),
    "image": _record({
        "normalization": _record({
            "mean": _list(_num(-1e6, 1e6), 1, 4),
            "std": _list(_num(0.0, 1e6, low_open=True), 1, 4),
            "channels": _int(1, 4),
        }),
        "width": _int(1, 1 << 14),
        "height": _int(1, 1 << 14),
    }),
    "audio": _record(
        {
            "features": _record({
                "sample_rate": _int(1, 1 << 20),
                "n_fft": _int(1, 1 << 16),
                "win_length": _int(1, 1 << 16),
                "hop_length": _int(1, 1 << 16),
                "n_mels": _int(1, 1 << 12),
                "fmin": _num(0.0, 1e6),
                "fmax": _num(0.0, 1e6),
                "log_eps": _num(0.0, 1.0, low_open=True),
            }),
        },
        {"num_samples": _int(1, 1 << 26)},
    ),
    "chars": _record(
        {"vocab": _list(_text, 1, 1 << 16)}, {"seq_len": _int(1, 1 << 16)}
    ),
    "arrays": _record({
        "inputs": _list(_record(
            {"name": _str, "dtype": _one_of(*_ARRAY_DTYPES),
             "shape": _list(_nullable(_int(1, 1 << 24)), max_len=8)},
            {"example_shape": _list(_int(1, 1 << 24), max_len=8)},
        ), 1, 64),
    }),
}
