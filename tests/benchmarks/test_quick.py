"""Each benchmark script's --quick mode end to end on slices of real data: the shipped recipes
run through the runner, the rows the script adds (peers, interleaved timing) come out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str, *args: str, cache: Path) -> dict:
    env = {**os.environ, "TINYAI_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), "--quick", *args],
                          capture_output=True, text=True, timeout=1200, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = ROOT / "benchmarks" / "results" / name.replace(".py", "-quick.json")
    return json.loads(result.read_text())


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_sst2_distill_quick_runs_the_recipes_and_times_peers_beside_them(cache: Path) -> None:
    result = script("sst2_distill.py", "--only", "sst2", cache=cache)
    rows = {r["name"]: r for r in result["rows"]}
    assert {"teacher, fp32", "sst2", "ORT quantize_dynamic (float export)"} <= set(rows)
    student, teacher = rows["sst2"], rows["teacher, fp32"]
    # the winner's recipe shrinks the teacher's artifact more than 60x, tokenizer excluded
    assert teacher["bytes"] / student["bytes"] > 60
    assert all(r["latency_ms"] > 0 and 0 <= r["accuracy"] <= 1 for r in rows.values())
    assert student["latency_ms"] < teacher["latency_ms"]
    assert (cache / "bench" / "quick" / "sst2" / "metrics.json").is_file()
    assert (cache / "bench" / "quick" / "report" / "report.html").is_file()


def test_artifact_ab_times_artifacts_side_by_side_and_compares_their_outputs(cache: Path) -> None:
    """On the artifacts the quick SST-2 benchmark above left in the cache."""
    runs = cache / "bench" / "quick"
    student, teacher = runs / "sst2" / "artifact", runs / "sst2-teacher" / "artifact"
    if not student.is_dir():
        test_sst2_distill_quick_runs_the_recipes_and_times_peers_beside_them(cache)
    args = [str(student), str(student), str(teacher), "--rounds", "2", "--sentences", "16"]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "artifact_ab.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if " ms, " in line]
    assert len(lines) == 3 and lines[0].startswith(str(student))
    assert lines[0].endswith("1.000x the first's speed, max |output - first's| 0")
    assert lines[1].endswith("max |output - first's| 0")  # the same artifact again
    assert not lines[2].endswith("| 0") and lines[2].startswith(str(teacher))


def test_overhead_quick_compares_compress_with_a_hand_written_loop(cache: Path) -> None:
    result = script("overhead.py", cache=cache)
    rates = result["median_steps_per_second"]
    assert rates["tinyai compress"] > 0 and rates["hand-written loop"] > 0
    assert result["ratio"] == pytest.approx(rates["tinyai compress"] / rates["hand-written loop"])


def test_stsb_embed_quick_distills_without_labels_and_times_both(cache: Path) -> None:
    result = script("stsb_embed.py", cache=cache)
    assert [r["name"] for r in result["rows"]][1] == "student"
    assert result["x_smaller"] > 20  # 2 layers, int8, 4-bit rows
    assert result["anchor"]["teacher_fraction"] == 0.93  # cited, not measured


def test_teacher_ema_evaluates_the_last_step_and_each_average_of_one_run(cache: Path) -> None:
    result = script("teacher_ema.py", "--seeds", "0", "--decays", "0.5,0.99", cache=cache)
    (row,) = result["rows"]
    assert row["seed"] == 0 and set(row) >= {"last_step", "ema 0.5", "ema 0.99"}
    assert all(0 <= row[k] <= 1 for k in ("last_step", "ema 0.5", "ema 0.99"))
    assert result["recipe"] == "recipes/sst2_teacher.yaml" and result["cpu"]


def test_teacher_soup_evaluates_each_member_and_each_soup(cache: Path) -> None:
    result = script("teacher_soup.py", "--seeds", "0,1", cache=cache)
    assert [m["seed"] for m in result["members"]] == [0, 1]
    (soup,) = result["soups"]
    assert soup["members"] == [0, 1] and 0 <= soup["accuracy"] <= 1
    accuracies = [m["accuracy"] for m in result["members"]]
    assert soup["members_mean"] == pytest.approx(sum(accuracies) / 2)
