"""`tinyai compress --reuse`: a recipe that begins like an earlier run starts after its
finished stages (students sharing a teacher train it once), and refuses a run that began
differently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tinyai.recipe.records import read_metrics


def compress(recipe: dict[str, Any], path: Path, *args: str) -> subprocess.CompletedProcess:
    path.write_text(yaml.safe_dump(recipe))
    return subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), *args],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))


def teacher_recipe(**task: Any) -> dict[str, Any]:
    return {
        "version": 1, "name": "teacher",
        "task": {"name": "fashion-mnist", "limit": {"train": 512, "test": 200}, **task},
        "teacher": {"arch": "lenet5", "config": {"channels": [8, 16], "hidden": 32}},
        "stages": [{"finetune": {}, "train": {"steps": 30, "lr": 3e-3, "batch_size": 64}}],
        "measure": {"bench_runs": 3},
    }


def test_a_student_recipe_starts_after_the_teacher_run_it_shares_stages_with(
        tmp_path: Path) -> None:
    teacher_run = tmp_path / "teacher"
    proc = compress(teacher_recipe(), tmp_path / "teacher.yaml", "-o", str(teacher_run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a run made before a setting existed (here: train.ema) is still shared: the stored
    # recipe is read with today's defaults
    stored = yaml.safe_load((teacher_run / "recipe.yaml").read_text())
    assert stored["stages"][0]["train"].pop("ema") == 0.0
    (teacher_run / "recipe.yaml").write_text(yaml.safe_dump(stored))
    student = {**teacher_recipe(), "name": "pruned",
               "stages": [*teacher_recipe()["stages"], {"magnitude-pruning": {"sparsity": 0.5}}]}
    run = tmp_path / "pruned"
    proc = compress(student, tmp_path / "pruned.yaml", "-o", str(run), "--reuse",
                    str(teacher_run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "finetune: finished earlier, loaded" in proc.stderr  # not trained again
    before, after = read_metrics(teacher_run), read_metrics(run)
    assert after.stages[1].train_losses == before.stages[1].train_losses
    assert after.teacher().measure == before.teacher().measure  # type: ignore[union-attr]
    assert after.final_stage == 2 and after.final().measure.nonzero_params < \
        0.6 * after.final().measure.params  # type: ignore[union-attr]
    weights = "stages/01-finetune/model/model.safetensors"
    assert (run / weights).read_bytes() == (teacher_run / weights).read_bytes()
    assert not (run / "stages/01-finetune/checkpoints").exists()
    assert yaml.safe_load((run / "recipe.yaml").read_text())["name"] == "pruned"
    # a run that began differently is refused, naming the fix
    other = {**teacher_recipe(limit={"train": 256, "test": 200}), "name": "other"}
    proc = compress(other, tmp_path / "other.yaml", "-o", str(tmp_path / "other"), "--reuse",
                    str(teacher_run))
    assert proc.returncode == 2 and "nothing to reuse: drop --reuse" in proc.stderr
