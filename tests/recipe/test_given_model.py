"""A recipe over the caller's own nn.Module (`teacher: {given: true}`), run from Python with
`run_recipe(..., teacher=module)`: every stage saved as a directory that loads into an
instance of the user's class, the final artifact measured, and the run resumable (#14)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from user_archs import SmallCNN

import tinyai
from tinyai.errors import ConfigError
from tinyai.models import load_model
from tinyai.models.calling import call_model
from tinyai.recipe.runner import run_recipe
from tinyai.recipe.schema import parse_recipe
from tinyai.tasks.spec import TaskSpec, build_task

TASK = {"name": "fashion-mnist", "limit": {"train": 96, "test": 48}}
RECIPE: dict[str, Any] = {
    "version": 1,
    "name": "given-cnn",
    "task": TASK,
    "teacher": {"given": True},
    "stages": [
        {"finetune": {}, "train": {"steps": 6, "lr": 3e-3, "batch_size": 32}},
        {"structured-pruning": {"ratio": 0.5, "targets": ["channels"]}},
        {"int8-dynamic": {}},
        {"export": {}},
    ],
    "measure": {"latency": False, "every_stage": False, "teacher": False},
}
STAGES = ["00-start", "01-finetune", "02-structured-pruning", "03-int8-dynamic", "04-export"]


def _module() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, SmallCNN,
                                                                 dict[str, torch.Tensor]]:
    """One run of the recipe; the module passed, and its state before the run."""
    run = tmp_path_factory.mktemp("given") / "run"
    module = _module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    metrics = tinyai.compress(RECIPE, run, teacher=module)  # the public entry point
    return run, metrics, module, before


def test_a_user_module_goes_through_a_recipe_to_a_measured_artifact(finished) -> None:
    run, metrics, module, before = finished
    assert [s.technique for s in metrics.stages] == [
        "load", "finetune", "structured-pruning", "int8-dynamic", "export"]
    final = metrics.final()
    assert final is not None and final.measure is not None
    assert final.measure.metric is not None and final.measure.bytes > 0
    # every stage directory names the class for information, and loads into an instance
    for name in STAGES:
        config = json.loads((run / "stages" / name / "model" / "config.json").read_text())
        assert config["_type"] == "user-module" and config["qualname"] == "SmallCNN"
    model = load_model(run / "stages" / STAGES[-1] / "model", into=SmallCNN())
    assert model.fc.in_features < 16  # structured pruning removed channels
    assert any(type(m).__name__.startswith(("Int8", "Quantized")) for m in model.modules())
    # the artifact, run by ONNX Runtime, computes what the reloaded model computes
    task = build_task(TaskSpec(**TASK))
    batch = next(task.numpy_batches(task.eval_split, 16))
    produced = tinyai.load_artifact(run / "artifact").run(batch)
    with torch.no_grad():
        expected = call_model(model, {k: torch.from_numpy(batch[k]) for k in task.input_names})
    # (int8 weights are dequantized on both sides: the same float computation)
    np.testing.assert_allclose(produced, expected.numpy(), atol=1e-5, rtol=1e-5)
    # the caller's module is left as it was: the run trained a copy
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_resume_loads_the_stage_directories_into_copies_of_the_module(
        finished, tmp_path: Path) -> None:
    run, metrics, _, _ = finished
    again = tmp_path / "run"
    shutil.copytree(run, again)
    said: list[str] = []
    fresh = SmallCNN()  # a new process builds the module afresh: its weights are not used
    resumed = run_recipe(parse_recipe(RECIPE), again, resume=True, teacher=fresh,
                         say=said.append)
    assert sum("finished earlier, loaded" in line for line in said) == 4
    assert [s.measure for s in resumed.stages] == [s.measure for s in metrics.stages]
    assert fresh.fc.in_features == 16  # loaded into copies, not into the module passed


def test_a_given_model_not_passed_is_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        run_recipe(parse_recipe(RECIPE), tmp_path / "run")
    assert str(info.value) == ("the recipe's teacher is given: true; pass your module: "
                               "tinyai.compress(recipe, run_dir, teacher=module)")
    assert not (tmp_path / "run").exists()


def test_a_module_passed_for_a_named_model_is_refused(tmp_path: Path) -> None:
    recipe = parse_recipe({**RECIPE, "teacher": {"arch": "lenet5"}})
    with pytest.raises(ConfigError, match=r"^teacher= was passed, but the recipe's teacher is "
                       r"lenet5 \(new\); write teacher: \{given: true\}"):
        run_recipe(recipe, tmp_path / "run", teacher=_module())


def test_a_module_that_cannot_take_the_task_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^the given teacher \(.*Linear\) does not run on "
                       r"the task's inputs") as info:
        run_recipe(parse_recipe(RECIPE), tmp_path / "run", teacher=nn.Linear(3, 2))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_tinyai_compress_says_such_a_recipe_runs_from_python(tmp_path: Path,
                                                            extra: list[str]) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    args = extra or ["-o", str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), *args],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "the teacher is given: true" in lines[0]
    assert "runs from Python: tinyai.compress(" in lines[0]
    assert "run_dir, teacher=module)" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("role", "source", "message"), [
    ("teacher", {"given": True, "model": "minilm-l6"}, r"^teacher: model or arch must be given"),
    ("teacher", {"given": False}, r"^teacher: model or arch must be given"),
    ("student", {"given": True, "arch": "lenet5"}, r"^student: exactly one of from_teacher"),
])
def test_given_is_one_source_among_the_others(role: str, source: dict[str, Any],
                                               message: str) -> None:
    data = {**RECIPE, role: source}
    if role == "student":
        data["stages"] = [{"distill": {}, "train": {"steps": 2}}]
    with pytest.raises(ConfigError, match=message):
        parse_recipe(data)


def test_a_given_student_is_distilled_and_resumes(tmp_path: Path) -> None:
    """student: {given: true}: distill trains a copy of the module passed as student=."""
    recipe = parse_recipe({**RECIPE, "teacher": {"arch": "lenet5", "config": {
        "channels": [4, 8], "hidden": 16}}, "student": {"given": True},
        "stages": [{"distill": {}, "train": {"steps": 2, "batch_size": 16}}]})
    run = tmp_path / "run"
    metrics = run_recipe(recipe, run, student=_module())
    assert [s.technique for s in metrics.stages] == ["build", "distill"]
    said: list[str] = []
    run_recipe(recipe, run, resume=True, student=SmallCNN(), say=said.append)
    assert any("distill: finished earlier, loaded" in line for line in said)
    assert type(load_model(run / "stages" / "01-distill" / "model", into=SmallCNN())) is SmallCNN
