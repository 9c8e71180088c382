"""Interrupted runs lose nothing, and a run is reproducible to the byte.

A small recipe (train, prune and train, calibrate and quantize; every stage exported and
measured) runs once straight through. The same recipe then runs into a second directory
and is killed again and again at seeded random moments, inside training, pruning,
calibration, ONNX export, measurement and the final copy (`TINYAI_TEST_KILL_AT`, see
`tinyai.atomic.kill_point`; each kill aimed at work the run has not finished yet), twice
with Ctrl-C instead of SIGKILL, each time resumed with `--resume`. The finished run must
equal the straight one: the same metrics.json (but for wall times), the same bytes in every
artifact and every saved model, no leftover folders.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

RECIPE = {
    "version": 1,
    "name": "interrupted",
    "task": {"name": "fashion-mnist", "limit": {"train": 256, "eval": 100}},
    "teacher": {"arch": "fashion-cnn", "config": {"channels": [4, 8], "dropout": 0.0}},
    "stages": [
        {"finetune": {}, "train": {"steps": 200, "lr": 3e-3, "batch_size": 16}},
        {"structured-pruning": {"ratio": 0.5, "targets": ["channels"]},
         "train": {"steps": 12, "lr": 1e-3, "batch_size": 16}},
        {"int8-static": {}, "calibration": 128},
    ],
    "measure": {"latency": False},
}
# Checkpoints every 0.2 s, so a kill inside training has something to resume from.
ENV = {**os.environ, "TINYAI_CHECKPOINT_SECONDS": "0.2"}


def compress(recipe: Path, out: Path, *args: str, kill_at: str = "",
             signal_name: str = "KILL") -> subprocess.CompletedProcess:
    env = {**ENV, "TINYAI_TEST_KILL_AT": kill_at, "TINYAI_TEST_KILL_SIGNAL": signal_name}
    return subprocess.run([sys.executable, "-m", "tinyai", "compress", str(recipe), "-o",
                           str(out), *args], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


@pytest.fixture(scope="module")
def straight(recipe: Path) -> Path:
    """The run, uninterrupted."""
    out = recipe.parent / "straight"
    proc = compress(recipe, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


# The kills, in the order the run reaches them: (stage, phase, lowest and highest delay in
# seconds after the phase begins, signal). "stage" is the stage's own work (training,
# pruning, calibration), "export" its ONNX export, "measure" the scoring of its artifact,
# "done" the moment before its done mark; "finish" the final copy and the report. An entry
# whose stage a previous kill's delay already carried past is skipped.
PLAN = [
    (0, "stage", 0, 0, "KILL"),  # before the run directory exists: the next run starts over
    (1, "stage", 0.3, 1.5, "KILL"),  # training, from scratch
    (1, "stage", 0.3, 1.0, "INT"),  # Ctrl-C while training
    (1, "stage", 0.3, 1.0, "KILL"),  # training, resumed from a checkpoint
    (1, "export", 0.0, 0.6, "KILL"),
    (1, "measure", 0, 0, "KILL"),
    (1, "done", 0, 0, "KILL"),
    (2, "stage", 0.05, 0.4, "KILL"),  # pruning and its fine-tuning
    (2, "export", 0.0, 0.6, "KILL"),
    (2, "measure", 0, 0, "KILL"),
    (2, "done", 0, 0, "KILL"),
    (3, "stage", 0.0, 0.15, "KILL"),  # prepare and calibration
    (3, "export", 0.0, 0.6, "INT"),  # Ctrl-C inside an export
    (3, "measure", 0, 0, "KILL"),
    (3, "done", 0, 0, "KILL"),
    (None, "finish", 0.0, 0.3, "KILL"),
]


def _done_stages(run: Path) -> set[int]:
    return {int(p.name[:2]) for p in (run / "stages").glob("*") if (p / "done.json").exists()}


# Wall-clock readings: a stage's seconds and its training loop's steady-state steps/s.
WALL_TIMES = ("seconds", "steps_per_second")


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in WALL_TIMES}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _artifact_and_model_files(run: Path) -> dict[str, bytes]:
    """Every file of every artifact and every saved model, by its path in the run."""
    files = {}
    for path in sorted(run.rglob("*")):
        rel = path.relative_to(run)
        inside = rel.parts[0] == "artifact" or (len(rel.parts) > 2 and rel.parts[2] in (
            "artifact", "model"))
        if path.is_file() and inside and path.name != "history.json":  # history: wall times
            files[str(rel)] = path.read_bytes()
    return files


def _assert_same_run(a: Path, b: Path) -> None:
    metrics_a = json.loads((a / "metrics.json").read_text())
    metrics_b = json.loads((b / "metrics.json").read_text())
    assert _without_times(metrics_a) == _without_times(metrics_b)
    files_a, files_b = _artifact_and_model_files(a), _artifact_and_model_files(b)
    assert sorted(files_a) == sorted(files_b)
    assert len(files_a) >= 20  # 4 artifacts and 4 models: this compares real files
    different = [name for name in files_a if files_a[name] != files_b[name]]
    assert not different, different


def test_a_run_killed_at_random_moments_and_resumed_ends_as_the_straight_run(
        recipe: Path, straight: Path) -> None:
    run = recipe.parent / "killed"
    rng, endings, mid_training = random.Random(13), [], []
    for stage, phase, lo, hi, sig in PLAN:
        if stage in _done_stages(run):
            continue
        kill_at = (phase if stage is None else f"{phase}-{stage}") + \
            (f"+{rng.uniform(lo, hi):.3f}" if hi else "")
        resume = ["--resume"] if (run / "recipe.yaml").is_file() else []
        proc = compress(recipe, run, *resume, kill_at=kill_at, signal_name=sig)
        endings.append((kill_at, sig, proc.returncode))
        if sig == "INT" and proc.returncode == 130:  # stopped cleanly, and says how to go on
            last = proc.stderr.strip().splitlines()[-1]
            assert last.startswith("interrupted") and "--resume to continue" in last, last
            assert "Traceback" not in proc.stderr
        else:  # killed; or finished, where the last delay outlasted the rest of the run
            assert proc.returncode in (-signal.SIGKILL, 0), (endings, proc.stderr[-2000:])
        info = run / "stages" / "01-finetune" / "checkpoints" / "checkpoint.json"
        if proc.returncode and stage == 1 and info.is_file():
            mid_training.append(0 < json.loads(info.read_text())["step"] < 200)
    print("kills and resumes:", endings)
    kills = sum(code == -signal.SIGKILL for _, _, code in endings)
    interrupts = sum(code == 130 for _, _, code in endings)
    assert kills >= 10 and interrupts == 2 and any(mid_training), endings
    aimed = {kill_at.split("+")[0].split("-")[0] for kill_at, _, code in endings if code}
    assert aimed >= {"stage", "export", "measure", "done"}, endings
    proc = compress(recipe, run, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same_run(straight, run)
    leftovers = [p for p in run.rglob("*") if ".partial" in p.name or ".aside" in p.name]
    assert not leftovers, leftovers


def test_the_same_recipe_twice_gives_the_same_bytes(recipe: Path, straight: Path) -> None:
    again = recipe.parent / "again"
    proc = compress(recipe, again)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same_run(straight, again)
    manifest = json.loads((again / "artifact" / "manifest.json").read_text())
    facts = manifest["reproducibility"]
    assert facts["seeds"] == {"recipe": 0, "task": 0, "stages[0].train": 0,
                              "stages[1].train": 0}
    assert facts["torch_threads"] >= 1
    assert {"tinyai", "torch", "onnx", "onnxruntime", "numpy", "python"} <= set(facts["versions"])
    assert all("time" not in step and "seconds" not in step for step in manifest["history"])


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_checkpoint(
        tmp_path: Path) -> None:
    """lr 1e6 blows the loss up within a few steps; the stage's last checkpoint survives."""
    recipe = {**RECIPE, "stages": [
        {"finetune": {}, "train": {"steps": 30, "lr": 1e6, "batch_size": 16, "warmup": 0}}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), "-o",
                           str(run)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TINYAI_CHECKPOINT_SECONDS": "0.000001"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the training loss became") and "at step" in last, last
    failed_at = int(last.split("at step ")[1].split(";")[0])
    checkpoints = run / "stages" / "01-finetune" / "checkpoints"
    assert str(checkpoints) in last and "lower the learning rate" in last
    info = json.loads((checkpoints / "checkpoint.json").read_text())
    assert 1 <= info["step"] < failed_at  # the last good step's checkpoint, not the bad one
    assert not (run / "stages" / "01-finetune" / "done.json").exists()
    assert not (run / "artifact").exists()


def test_resume_refuses_other_settings_for_a_single_verb(tmp_path: Path) -> None:
    """`tinyai finetune --resume` continues only the run its options started."""
    model = tmp_path / "init"
    base = [sys.executable, "-m", "tinyai"]
    env = {**os.environ, "TINYAI_CACHE": str(tmp_path / "cache")}
    init = subprocess.run([*base, "init", "lenet-300-100", str(model), "--task",
                           "fashion-mnist", "--config", "hidden=[8]"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert init.returncode == 0, init.stderr
    run = [*base, "finetune", str(model), "fashion-mnist", "--out", str(tmp_path / "out"),
           "--limit", "64", "--eval-limit", "32", "--no-bench"]
    first = subprocess.run([*run, "--steps", "4", "--batch-size", "8"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    for changed, key in ((["--steps", "2", "--batch-size", "8"], "steps"),
                         (["--steps", "4", "--batch-size", "16"], "batch_size")):
        proc = subprocess.run([*run, *changed, "--resume"], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"train.{key} differs" in lines[0], proc.stderr
