"""Shipped recipes run for a benchmark: cached, resumable, and shrunk for --quick.

    metrics, run_dir = run_cached("lenet5_int8", "fashion_prune", quick=False)
    metrics, run_dir = finished_run("lenet5_int8", "fashion_prune", quick=False)

A benchmark runs `recipes/NAME.yaml` through the same runner as `tinyai compress`, into
``cache_dir("bench", BENCH[_quick], NAME)``; a run that exists there is resumed, so a
finished one is not trained again. `--quick` runs the same recipe on small slices (the
task's `limit`, a few training steps, schedules scaled to them): it checks the script, not
the figures. Latency of several artifacts is measured side by side, interleaved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tinyai.errors import TinyAIError
from tinyai.paths import REPO_ROOT, cache_dir
from tinyai.recipe.records import RunMetrics, StageRecord

RECIPES = REPO_ROOT / "recipes"
# --quick: examples per split, optimizer steps per training stage, calibration examples.
QUICK_LIMIT = {"train": 512, "eval": 200}
QUICK_STEPS = 4
QUICK_CALIBRATION = 64


def load(name: str, quick: bool) -> Any:
    """recipes/NAME.yaml parsed; with `quick`, the same recipe on small slices."""
    import yaml

    from tinyai.recipe.schema import parse_recipe

    path = RECIPES / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_recipe(shrunk(data) if quick else data, base=RECIPES)


def shrunk(data: dict[str, Any]) -> dict[str, Any]:
    """A recipe's YAML for a quick run: `QUICK_LIMIT` examples, `QUICK_STEPS` steps per
    training stage (a pruning schedule scaled to them), no per-stage latency bench."""
    task = data["task"]
    task = {"name": task} if isinstance(task, str) else dict(task)
    task["limit"] = dict(QUICK_LIMIT)
    stages = []
    for stage in data["stages"]:
        stage = dict(stage)
        train = stage.get("train")
        if train is not None:
            full = _steps(train)
            stage["train"] = {**train, "steps": QUICK_STEPS}
            stage = _scaled_schedule(stage, QUICK_STEPS / full)
        if "calibration" in stage:
            stage["calibration"] = QUICK_CALIBRATION
        stages.append(stage)
    # The scripts time the artifacts themselves, side by side.
    measure = {**(data.get("measure") or {}), "latency": False}
    return {**data, "task": task, "stages": stages, "measure": measure}


def _steps(train: dict[str, Any]) -> int:
    """Optimizer steps of a full run on Fashion-MNIST's 60,000 training images."""
    per_epoch = math.ceil(60_000 / train.get("batch_size", 32))
    return int(train.get("steps") or math.ceil(train.get("epochs", 1.0) * per_epoch))


def _scaled_schedule(stage: dict[str, Any], scale: float) -> dict[str, Any]:
    for key, body in stage.items():
        schedule = body.get("schedule") if isinstance(body, dict) else None
        if schedule:
            steps = {k: max(1, round(v * scale)) for k, v in schedule.items()
                     if k in ("end_step", "frequency")}
            stage[key] = {**body, "schedule": {**schedule, **steps}}
    return stage


def run_dir(name: str, bench: str, quick: bool) -> Path:
    return cache_dir("bench", f"{bench}_quick" if quick else bench, name)


def run_cached(name: str, bench: str, quick: bool) -> tuple[RunMetrics, Path]:
    """Run recipes/NAME.yaml into its cache folder, resuming what is there."""
    from tinyai.recipe.runner import RECIPE_FILE, run_recipe

    recipe, folder = load(name, quick), run_dir(name, bench, quick)
    resume = (folder / RECIPE_FILE).is_file()
    print(f"{name}: {'resuming' if resume else 'running'} in {folder}", flush=True)
    return run_recipe(recipe, folder, resume=resume, say=print), folder


def finished_run(name: str, bench: str, quick: bool) -> tuple[RunMetrics, Path]:
    """The metrics of a finished cached run (measure phase: nothing is trained)."""
    from tinyai.recipe.records import read_metrics

    folder = run_dir(name, bench, quick)
    metrics = read_metrics(folder) if (folder / "metrics.json").is_file() else None
    if metrics is None or metrics.final_stage is None:
        flag = " --quick" if quick else ""
        raise TinyAIError(f"no finished run of recipes/{name}.yaml in {folder}; run "
                          f"benchmarks/{bench}.py --phase train{flag} first")
    return metrics, folder


def stage(metrics: RunMetrics, name: str) -> StageRecord:
    """The stage record called `name` ("teacher", or a stage's name in its recipe)."""
    found = next((s for s in metrics.stages if s.name == name), None)
    if found is None or found.measure is None:
        raise TinyAIError(f"run {metrics.recipe['name']} has no measured stage {name!r}; "
                          "re-run its benchmark's train phase")
    return found


def side_by_side(paths: dict[str, Path], rounds: int) -> dict[str, dict[str, float]]:
    """Batch-1 latency (ms, one thread) of every artifact, timed in one fresh process in
    `rounds` interleaved rounds of 10 runs each (`tinyai.runtime.bench.compare`), so load from
    other processes hits them alike: name -> {"median", "min", ...} over all its runs."""
    from tinyai.runtime.bench import compare

    result = compare(list(paths.values()), threads=1, runs=10 * rounds, warmup=20, rounds=rounds)
    return {name: row["latency_ms"] for name, row in zip(paths, result["rows"], strict=True)}
