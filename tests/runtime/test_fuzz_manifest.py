"""Fuzzing the manifest reader: random bytes and random JSON as manifest.json, and every field
of a real manifest replaced, deleted or added to at random and sealed again (so the digest
passes and the schema checks and loaders behind it are what is tested). `read_manifest` and
`load_artifact` (which builds the preprocessing and the onnxruntime session) either succeed
or raise the clean `TinyAIError`; nothing else. Example counts are bounded and seeded."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tiny_artifacts import tiny_artifact  # noqa: E402

from tinyai.errors import TinyAIError  # noqa: E402
from tinyai.runtime import load_artifact, read_manifest  # noqa: E402
from tinyai.runtime.manifest import manifest_digest  # noqa: E402

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2, 70000),
                   st.floats(), st.text(max_size=12), st.sampled_from(
                       ["model.onnx", "../x", "/etc/hostname", "tokenizer/tokenizer.json",
                        "weights.packed", "sparse", "float32", "text", "image", ""]))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:8]):  # a long list's first items stand for it
            out += _paths(item, (*prefix, i))
    return out


def _clean(call: Any) -> None:
    try:
        call()
    except TinyAIError as exc:
        assert str(exc) and "\n" not in str(exc)


@pytest.fixture(params=["text-classification", "image-classification", "audio-classification",
                        "char-lm"])
def artifact(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifact(request.param), tmp_path / "art"))


def test_random_edits_of_a_sealed_manifest(artifact: Path) -> None:
    path = artifact / "manifest.json"
    original = json.loads(path.read_text())
    paths = [p for p in _paths(original)[1:] if p[0] != "digest"]

    @FUZZ
    @given(where=st.sampled_from(paths), value=VALUES,
           how=st.sampled_from(["replace", "delete", "add"]), key=st.text(max_size=8))
    def run(where: tuple, value: Any, how: str, key: str) -> None:
        manifest = copy.deepcopy(original)
        parent = manifest
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        if how == "replace":
            parent[last] = value
        elif how == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][key] = value
        else:
            parent[last] = [parent[last], value]
        manifest["digest"] = manifest_digest(manifest)
        path.write_text(json.dumps(manifest))
        _clean(lambda: read_manifest(artifact))
        _clean(lambda: load_artifact(artifact))

    run()


def test_random_bytes_and_json_as_the_manifest(tmp_path: Path) -> None:
    art = Path(shutil.copytree(tiny_artifact("image-classification"), tmp_path / "art"))

    @FUZZ
    @given(blob=st.binary(max_size=400), value=VALUES, as_json=st.booleans())
    def run(blob: bytes, value: Any, as_json: bool) -> None:
        text = json.dumps(value).encode() if as_json else blob
        (art / "manifest.json").write_bytes(text)
        _clean(lambda: read_manifest(art))
        _clean(lambda: load_artifact(art))

    run()


def test_the_unedited_artifacts_load(artifact: Path) -> None:
    """The edits start from artifacts that load (so they test the edit, not the base)."""
    assert load_artifact(artifact).kind
