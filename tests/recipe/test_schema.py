"""Recipes: a table of good ones (they parse, and their resolved form parses to the same
recipe) and of bad ones (each refused with one line that names its path)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tinyai.errors import ConfigError
from tinyai.recipe.schema import load_recipe, parse_recipe

BASE: dict[str, Any] = {
    "version": 1,
    "task": "fashion-mnist",
    "teacher": {"arch": "fashion-cnn", "config": {"channels": [8, 16]}},
    "stages": [{"finetune": {}, "train": {"steps": 5}}],
}


def recipe(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


GOOD = {
    "minimal": recipe(),
    "task-name-and-options": recipe(task={"name": "sst2", "max_length": 64,
                                          "limit": {"train": 100, "eval": 50}},
                                    teacher="minilm-l6"),
    "user-data": recipe(task={"data": {"train": "x.tsv", "test": "y.tsv"}}, teacher="minilm-l6"),
    "student-from-teacher": recipe(
        teacher="minilm-l6", task="sst2",
        student={"from_teacher": {"layers": [0, 5], "hidden_size": 256, "vocab_size": 8000}},
        stages=[{"finetune": {}, "train": {"steps": 2}},
                {"distill": {"augment": {"copies": 2}}, "train": {"steps": 2, "lr": 1e-3}},
                {"int8-dynamic": {"embedding_bits": 4}}, {"export": {}}]),
    "prune-while-distilling": recipe(stages=[
        {"finetune": {}, "train": {"steps": 2}},
        {"magnitude-pruning": {"sparsity": 0.9, "schedule": {"end_step": 8, "frequency": 2}},
         "train": {"steps": 10}, "teacher": {"temperature": 4.0, "alpha": 0.7}}]),
    "static-int8-and-qat": recipe(stages=[
        {"int8-static": {"observer": "percentile"}, "calibration": 64},
        {"qat": {"bits": 8}, "train": {"steps": 3}}]),
    "student-pruned-copy": recipe(
        student={"pruned_copy": {"ratio": 0.5, "importance": "taylor"}},
        stages=[{"finetune": {}, "train": {"steps": 2}}, {"distill": {}, "train": {"steps": 2}}]),
    "mixed-precision-budget": recipe(stages=[{"mixed-precision": {"budget_bytes": 10000}}]),
    "shorthand-stage": recipe(stages=["int8-dynamic", "export"]),
    "targets-and-measure": recipe(targets={"max_bytes": 50000, "min_teacher_fraction": 0.97},
                                  measure={"bench_runs": 10, "latency": False}),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_good_recipes_parse_and_their_resolved_form_round_trips(name: str) -> None:
    parsed = parse_recipe(GOOD[name])
    again = parse_recipe(yaml.safe_load(parsed.to_yaml()))
    assert again.to_dict() == parsed.to_dict()


def test_defaults_are_the_dataclasses() -> None:
    from tinyai.quantize import Int8Static
    from tinyai.train import TrainConfig

    parsed = parse_recipe(recipe(stages=[{"int8-static": {}}, {"qat": {}, "train": {}}]))
    assert parsed.stages[0].config == Int8Static()
    assert parsed.stages[1].settings.train == TrainConfig()
    resolved = parsed.to_dict()["stages"][0]["int8-static"]
    assert resolved["observer"] == Int8Static().observer and "step" not in resolved


BAD = [
    ("not-a-mapping", ["a", "list"], r"^a recipe is a mapping"),
    ("no-version", {k: v for k, v in BASE.items() if k != "version"}, r"^version: .*add"),
    ("future-version", recipe(version=2), r"^version: this tinyai reads recipe version 1"),
    ("typo-top-key", recipe(stagse=[]), r"unknown key 'stagse'.*did you mean 'stages'"),
    ("no-stages", {k: v for k, v in BASE.items() if k != "stages"}, r"^stages: missing"),
    ("empty-stages", recipe(stages=[]), r"^stages: must be a non-empty list"),
    ("typo-technique", recipe(stages=[{"int8-dynamc": {}}]),
     r"^stages\[0\]: unknown key 'int8-dynamc'.*did you mean 'int8-dynamic'"),
    ("two-techniques", recipe(stages=[{"int8-dynamic": {}, "weight-only": {}}]),
     r"^stages\[0\]: names 2 techniques"),
    ("typo-stage-key", recipe(stages=[{"finetune": {}, "trian": {"steps": 3}}]),
     r"^stages\[0\]: unknown key 'trian' for a stage; did you mean 'train'"),
    ("out-of-range", recipe(stages=[{"magnitude-pruning": {"sparsity": 1.5}}]),
     r"^stages\[0\]\.magnitude-pruning\.sparsity: must be in \[0, 1\), got 1\.5$"),
    ("wrong-type", recipe(stages=[{"int8-static": {"observer": 3}}]),
     r"^stages\[0\]\.int8-static\.observer: expected a string, got 3$"),
    ("typo-config-key", recipe(stages=[{"magnitude-pruning": {"sparsty": 0.5}}]),
     r"^stages\[0\]\.magnitude-pruning: unknown key 'sparsty'.*did you mean 'sparsity'"),
    ("nested-bad", recipe(stages=[{"magnitude-pruning": {"schedule": {"end_step": -1}},
                                   "train": {"steps": 3}}]),
     r"^stages\[0\]\.magnitude-pruning\.schedule: need 0 <= start_step < end_step"),
    ("train-inside", recipe(stages=[{"finetune": {"train": {"steps": 3}}}]),
     r"^stages\[0\]\.finetune\.train: put training settings in the stage's own"),
    ("step-given", recipe(stages=[{"int8-static": {"step": "convert"}}]),
     r"^stages\[0\]\.int8-static\.step: the runner runs prepare"),
    ("runner-key", recipe(stages=[{"finetune": {}, "train": {"checkpoint_dir": "/tmp"}}]),
     r"^stages\[0\]\.train\.checkpoint_dir: set by the runner"),
    ("negative-steps", recipe(stages=[{"finetune": {}, "train": {"steps": -5}}]),
     r"^stages\[0\]\.train\.steps: must be >= 0"),
    ("nan-lr", recipe(stages=[{"finetune": {}, "train": {"lr": float("nan")}}]),
     r"^stages\[0\]\.train\.lr: must be a finite number"),
    ("zero-batch", recipe(stages=[{"finetune": {}, "train": {"batch_size": 0}}]),
     r"^stages\[0\]\.train\.batch_size: must be >= 1"),
    ("qat-without-train", recipe(stages=[{"qat": {}}]), r"^stages\[0\]\.train: qat trains"),
    ("schedule-without-train", recipe(stages=[{"magnitude-pruning": {
        "schedule": {"end_step": 10}}}]), r"^stages\[0\]\.train: a scheduled magnitude-pruning"),
    ("train-on-static-shape", recipe(stages=[{"int8-dynamic": {}, "train": {"steps": 2}}]),
     r"^stages\[0\]\.train: int8-dynamic does not train"),
    ("soft-targets-without-train", recipe(stages=[{"magnitude-pruning": {},
                                                   "teacher": {"temperature": 2.0}}]),
     r"^stages\[0\]\.teacher: soft targets are a training loss"),
    ("distill-without-student", recipe(stages=[{"distill": {}, "train": {"steps": 2}}]),
     r"^stages\[0\]: distill trains a student"),
    ("student-without-distill", recipe(student={"arch": "lenet5"}),
     r"^student: no distill stage"),
    ("export-not-last", recipe(stages=[{"export": {}}, {"int8-dynamic": {}}]),
     r"^stages\[0\]: export configures the final artifact"),
    ("task-name-and-data", recipe(task={"name": "sst2", "data": {"train": "x.tsv"}}),
     r"^task: name or data must be given"),
    ("task-bad-kind", recipe(task={"data": {"train": "x"}, "kind": "video"}),
     r"^task\.kind: must be one of"),
    ("teacher-both", recipe(teacher={"model": "minilm-l6", "arch": "lenet5"}),
     r"^teacher: model or arch must be given, not both"),
    ("unknown-arch", recipe(teacher={"arch": "resnet9000"}),
     r"^teacher\.arch: unknown architecture 'resnet9000'"),
    ("student-two-sources", recipe(student={"arch": "lenet5", "model": "x"}),
     r"^student: exactly one of from_teacher, pruned_copy, model or arch"),
    ("pruned-copy-ratio", recipe(student={"pruned_copy": {"ratio": 1.5}}),
     r"^student\.pruned_copy\.ratio: must be in \[0, 1\), got 1\.5"),
    ("bad-student-field", recipe(student={"from_teacher": {"layerz": [0]}}),
     r"^student\.from_teacher: unknown key 'layerz'.*did you mean 'layers'"),
    ("negative-target", recipe(targets={"max_bytes": -1}), r"^targets\.max_bytes: must be > 0"),
    ("bad-measure", recipe(measure={"bench_runs": 0}), r"^measure: bench_runs and threads"),
    ("calibration-zero", recipe(stages=[{"int8-static": {}, "calibration": 0}]),
     r"^stages\[0\]\.calibration: must be >= 1 example"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_recipes_name_their_path(name: str, data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_recipe(data)
    assert "\n" not in str(info.value)


def test_yaml_errors_give_the_line(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ntask: sst2\nstages: [\n  - oops\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_recipe(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")


def test_data_paths_are_relative_to_the_recipe(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(task={"data": {"train": "data/train.tsv"}},
                                          teacher="minilm-l6")))
    parsed = load_recipe(path)
    assert parsed.task.data["train"] == str(tmp_path / "data" / "train.tsv")


def test_shipped_recipes_are_valid() -> None:
    from tinyai.paths import REPO_ROOT

    shipped = sorted((REPO_ROOT / "recipes").glob("*.yaml"))
    assert shipped
    for path in shipped:
        load_recipe(path)
