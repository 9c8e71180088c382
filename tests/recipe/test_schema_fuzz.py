"""Fuzzing the recipe parser: random values, random edits of a valid recipe, random YAML text
and random bytes. `parse_recipe` / `load_recipe` either return a recipe or raise the clean
`TinyAIError` (one line); a recipe they return writes itself out (`to_yaml`) as a file that
parses back to the same recipe. Example counts are bounded and seeded."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyai.errors import TinyAIError
from tinyai.recipe.schema import load_recipe, parse_recipe

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID: dict[str, Any] = {
    "version": 1,
    "name": "fuzz",
    "seed": 3,
    "task": {"name": "sst2", "max_length": 64, "limit": {"train": 100}},
    "teacher": "minilm-l6",
    "student": {"from_teacher": {"layers": [0, 5], "hidden_size": 256}},
    "stages": [
        {"finetune": {"freeze_layers": 2}, "train": {"steps": 60, "lr": 8e-5}},
        {"distill": {"temperature": 2.0}, "train": {"steps": 30}},
        {"magnitude-pruning": {"sparsity": 0.5, "schedule": {"end_step": 20}},
         "train": {"steps": 30}, "teacher": {"temperature": 2.0}},
        {"int8-static": {"observer": "minmax"}, "calibration": 64},
        {"export": {}},
    ],
    "targets": {"max_bytes": 2000000, "min_teacher_fraction": 0.9},
    "measure": {"latency": False},
}

KEYS = st.sampled_from(["version", "name", "seed", "task", "teacher", "student", "stages",
                        "targets", "measure", "train", "steps", "lr", "sparsity", "bits",
                        "calibration", "data", "limit", "arch", "config", "_type",
                        "_version", "finetune", "export", "int8-static", "layers"])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-3, 3),
                   st.floats(), st.text(max_size=20), st.sampled_from(
                       ["sst2", "fashion-mnist", "minilm-l6", "finetune", "int8-dynamic",
                        "fashion-cnn", "../../etc/passwd", "", "nan"]))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner,
                                            max_size=4)),
    max_leaves=25,
)


def _parses_cleanly(data: Any) -> None:
    try:
        recipe = parse_recipe(data)
    except TinyAIError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    again = parse_recipe(yaml.safe_load(recipe.to_yaml()))  # what the runner writes reads back
    assert again.to_dict() == recipe.to_dict()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


ALL_PATHS = _paths(VALID)[1:]


@FUZZ
@given(data=VALUES)
def test_random_values(data: Any) -> None:
    _parses_cleanly(data)


@FUZZ
@given(path=st.sampled_from(ALL_PATHS), value=VALUES, how=st.sampled_from(
    ["replace", "delete", "add"]), key=KEYS)
def test_random_edits_of_a_valid_recipe(path: tuple, value: Any, how: str, key: str) -> None:
    data = copy.deepcopy(VALID)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][key] = value
    else:
        parent[last] = [parent[last], value]
    _parses_cleanly(data)


def test_the_valid_recipe_is_valid() -> None:
    """The edits start from a recipe that parses (so they test the edit, not the base)."""
    assert len(parse_recipe(copy.deepcopy(VALID)).stages) == 5


YAML_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["version: 1", "task: sst2", "teacher: minilm-l6", "stages:",
                              "  - finetune: {}", "  - {", "- [", "&a [*a]", "!!python/object",
                              "seed: 1e400", "stages: [export]", "  train: {steps: -1}",
                              "\t", ": :", "? x", "'", "\"\\u0000\"", "*b", "%TAG ! x"]),
             max_size=12).map("\n".join),
)


def test_random_yaml_files(tmp_path: Path) -> None:
    @FUZZ
    @given(text=YAML_TEXT, raw=st.binary(max_size=200), as_bytes=st.booleans())
    def run(text: str, raw: bytes, as_bytes: bool) -> None:
        path = tmp_path / "recipe.yaml"
        if as_bytes:
            path.write_bytes(raw)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_recipe(path)
        except TinyAIError as exc:
            assert str(exc) and "\n" not in str(exc)

    run()
