"""`tinyai demo` through the real CLI on small slices of the shipped recipes: the stage table,
the teacher-against-final table (every figure the one in metrics.json), the report's path and
one prediction that the torch-free runtime gives again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tinyai.paths import REPO_ROOT
from tinyai.recipe.records import read_metrics


def demo(recipe: dict[str, Any], tmp: Path, *args: str) -> tuple[Path, list[str]]:
    path, run = tmp / "recipe.yaml", tmp / "run"
    path.write_text(yaml.safe_dump(recipe))
    proc = subprocess.run([sys.executable, "-m", "tinyai", "demo", "--recipe", str(path),
                           "-o", str(run), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1",
                               "TINYAI_CACHE": str(tmp / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, proc.stdout.splitlines()


def shipped(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "recipes" / name).read_text())


def cells(lines: list[str], first: str) -> list[str]:
    """The cells of the table row whose first cell starts with `first`."""
    for line in lines:
        parts = [p.strip() for p in line.strip("│ ").split("│")]
        if parts[0].startswith(first):
            return parts
    raise AssertionError(f"no row {first!r} in:\n" + "\n".join(lines))


def test_the_demo_recipe_on_a_slice_prints_teacher_against_final(tmp_path: Path) -> None:
    from tinyai.cli.demo import SENTENCE
    from tinyai.runtime import load_artifact

    recipe = shipped("demo.yaml")  # the shipped stages and student, made tiny
    recipe["task"].update(max_length=32, limit={"train": 96, "eval": 48})
    recipe["student"]["from_teacher"].update(layers=[0], hidden_size=128, intermediate_size=128,
                                             vocab_size=1500, embedding_size=32,
                                             max_position_embeddings=32)
    for stage in recipe["stages"]:
        if "train" in stage:
            stage["train"].update(steps=2, batch_size=8)
    recipe["measure"]["bench_runs"] = 5
    run, lines = demo(recipe, tmp_path)

    metrics = read_metrics(run)
    teacher, final = metrics.teacher(), metrics.final()
    assert teacher is not None and final is not None
    assert [s.technique for s in metrics.stages] == ["load", "finetune", "distill",
                                                     "int8-dynamic"]
    assert cells(lines, "3 int8-dynamic")[1] == "int8-dynamic"  # the full stage table too
    t, f = teacher.measure, final.measure
    assert t is not None and f is not None and t.bytes and f.bytes
    assert t.latency_ms and f.latency_ms and t.metric and f.metric is not None
    assert cells(lines, "teacher (finetune)")[1:] == [
        f"{t.metric:.4f}", f"{t.bytes / 1e6:.2f}", f"{t.latency_ms:.3f}"]
    assert cells(lines, "final (int8-dynamic)")[1:] == [
        f"{f.metric:.4f}", f"{f.bytes / 1e6:.2f}", f"{f.latency_ms:.3f}"]
    assert cells(lines, "ratio")[1:] == [
        f"{f.metric / t.metric:.1%} of the teacher", f"{t.bytes / f.bytes:.1f}x smaller",
        f"{t.latency_ms / f.latency_ms:.1f}x faster"]
    assert f"report: {run / 'report.html'}" in lines and (run / "report.html").is_file()

    assert lines[-2] == f'$ tinyai predict {run / "artifact"} "{SENTENCE}"'
    expected = load_artifact(run / "artifact").predict([SENTENCE])[0]
    assert expected["label"] in ("negative", "positive")
    assert lines[-1] == f"{expected['label']}\t{expected['score']:.4f}"


def test_the_fashion_recipe_runs_as_a_demo_and_predicts_a_test_image(tmp_path: Path) -> None:
    recipe = shipped("fashion.yaml")
    recipe["task"] = {"name": "fashion-mnist", "limit": {"train": 512, "test": 64}}
    for stage in recipe["stages"]:
        if "train" in stage:
            stage["train"] = {"steps": 4, "batch_size": 64}
        if "calibration" in stage:
            stage["calibration"] = 64
    recipe["measure"]["bench_runs"] = 5
    run, lines = demo(recipe, tmp_path)

    assert read_metrics(run).final_stage == len(recipe["stages"])
    assert cells(lines, "final (export)")[2] != "—"
    assert lines[-2].startswith(f"$ tinyai predict {run / 'artifact'} <test example 0, labelled ")
    label, score = lines[-1].split("\t")
    assert label in read_metrics(run).task.label_names and 0.0 < float(score) <= 1.0
