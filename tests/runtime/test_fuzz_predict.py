"""Fuzzing the runtime's input handling: whatever `Predictor.predict` is given (strings of any
characters, byte blobs, numbers, None, nested lists, arrays of random shapes and dtypes,
paths to nothing or to random bytes), for each task kind, it answers or raises the clean
`TinyAIError`, never anything else; and what it answers is well formed (one finite result
per input). Example counts are bounded (seeded: the same examples on every run)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tiny_artifacts import ARRAY_FEATURES, KINDS, tiny_artifact  # noqa: E402

from tinyai.errors import TinyAIError  # noqa: E402

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_PREDICTORS: dict[str, Any] = {}


def predictor(kind: str) -> Any:
    if kind not in _PREDICTORS:
        from tinyai.runtime import load_artifact

        _PREDICTORS[kind] = load_artifact(tiny_artifact(kind))
    return _PREDICTORS[kind]


_DTYPES = st.sampled_from(["uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                           "float64", "bool", "complex64"])
arrays = _DTYPES.flatmap(lambda dtype: hnp.arrays(
    dtype, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=32)))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                    st.binary(max_size=200))
texts = st.text(alphabet=st.characters(codec=None), max_size=300)  # surrogates included
inputs = st.one_of(
    texts, st.binary(max_size=500), scalars, arrays,
    st.lists(st.one_of(texts, scalars), max_size=6),
    st.lists(st.tuples(texts, texts), max_size=4),
    st.lists(arrays, max_size=3),
    st.tuples(st.one_of(texts, scalars), st.one_of(texts, scalars)),
    st.lists(st.lists(scalars, max_size=3), max_size=3),
)


def _check(kind: str, raw: Any, **options: Any) -> None:
    try:
        results = predictor(kind).predict(raw, **options)
    except TinyAIError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(results, list) and results
    for result in results:
        values = [result.get("score"), *(result.get("embedding") or [])]
        assert all(math.isfinite(v) for v in values if v is not None), result


@pytest.mark.parametrize("kind", KINDS)
def test_any_input_gets_an_answer_or_the_clean_error(kind: str) -> None:
    @FUZZ
    @given(raw=inputs)
    def run(raw: Any) -> None:
        _check(kind, raw, **({"n": 3} if kind == "char-lm" else {}))

    run()


@pytest.mark.parametrize("kind", ["image-classification", "audio-classification"])
def test_any_file_gets_an_answer_or_the_clean_error(kind: str, tmp_path: Path) -> None:
    """Random bytes named .png / .wav, and paths to folders or to nothing."""
    suffix = ".png" if kind.startswith("image") else ".wav"
    start = {".png": b"\x89PNG\r\n\x1a\n", ".wav": b"RIFF\x24\x00\x00\x00WAVEfmt "}[suffix]

    @FUZZ
    @given(blob=st.binary(max_size=2000), prefixed=st.booleans())
    def run(blob: bytes, prefixed: bool) -> None:
        path = tmp_path / f"input{suffix}"
        path.write_bytes(start + blob if prefixed else blob)
        _check(kind, [str(path)])

    run()
    for missing in (tmp_path, tmp_path / "absent.png", "", "\x00", "\n", "a\nb.png"):
        _check(kind, [missing])


def test_the_fuzzers_reach_the_model() -> None:
    """Well-formed inputs among the random ones do get predictions (the test is not vacuous)."""
    assert predictor("text-classification").predict(["fine"])[0]["label"]
    assert len(predictor("sentence-embedding").predict(["fine"])[0]["embedding"]) == 32
    assert predictor("image-classification").predict(np.zeros((2, 28, 28), np.uint8))
    assert predictor("audio-classification").predict([np.zeros(16000, np.float32)])
    assert predictor("char-lm").predict(["the "], n=2)[0]["completion"]
    assert predictor("text-regression").predict([("a", "b")])[0]["score"] is not None
    rows = np.zeros((3, ARRAY_FEATURES), np.float32)
    assert len(predictor("array-classification").predict(rows)) == 3
    assert predictor("array-regression").predict(rows)[0]["score"] is not None
