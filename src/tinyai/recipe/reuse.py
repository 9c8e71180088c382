"""Start a run from the finished stages of another run that began the same way.

Several recipes often share their first stages: every SST-2 student starts from the same
fine-tuned teacher. ``reuse_stages`` seeds a new run directory with the finished stages of
an earlier run whose recipe agrees with this one up to there (the same task, starting model,
seed and measurement settings, and the same stages, every default resolved), so the run
resumes after them and the teacher is trained once. Files are hard-linked where the file
system allows (the runner never rewrites a finished stage's files in place), else copied;
training checkpoints are left behind: a finished stage does not need them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tinyai import atomic
from tinyai.errors import ConfigError
from tinyai.recipe.records import METRICS_FILE, read_metrics
from tinyai.recipe.schema import Recipe, stored_recipe

# What every reused stage depends on besides the stages before it.
SHARED_KEYS = ("task", "teacher", "seed", "measure")
_RECIPE_FILE, _STAGES_DIR, _DONE_FILE = "recipe.yaml", "stages", "done.json"


def shared_stages(recipe: Recipe, source: Path) -> int:
    """How many of `recipe`'s stages the run in `source` finished with the same settings (the
    starting model, stage 0, is shared when this is >= 0; -1: nothing is shared)."""
    import yaml

    if not (source / _RECIPE_FILE).is_file():
        raise ConfigError(f"{source} holds no tinyai run (no {_RECIPE_FILE}); give --reuse the "
                          "run directory of an earlier tinyai compress")
    theirs = stored_recipe(source / _RECIPE_FILE)
    ours = yaml.safe_load(recipe.to_yaml())
    if any(theirs.get(key) != ours.get(key) for key in SHARED_KEYS):
        return -1
    finished = {_index(p) for p in (source / _STAGES_DIR).glob("*") if (p / _DONE_FILE).is_file()}
    if 0 not in finished:
        return -1
    count = 0
    for i, (mine, other) in enumerate(zip(ours["stages"], theirs["stages"], strict=False)):
        distills = "distill" in mine
        if mine != other or i + 1 not in finished or (distills and ours.get("student") !=
                                                     theirs.get("student")):
            break
        count = i + 1
    return count


def reusable_stages(recipe: Recipe, source: Path) -> int:
    """`shared_stages`, refusing a run that shares nothing (checked before any work)."""
    shared = shared_stages(recipe, source)
    if shared < 0:
        raise ConfigError(f"{source} began with another task, model, seed or measure settings "
                          "than this recipe; nothing to reuse: drop --reuse")
    return shared


def reuse_stages(recipe: Recipe, run_dir: Path, source: Path, shared: int) -> None:
    """Seed the new run directory `run_dir` with the first `shared` stages of `source` (from
    `reusable_stages`). Run it with ``resume=True`` afterwards."""
    from tinyai.recipe.runner import teacher_index

    for folder in sorted((source / _STAGES_DIR).glob("*")):
        if (folder / _DONE_FILE).is_file() and _index(folder) <= shared:
            _link_tree(folder, run_dir / _STAGES_DIR / folder.name)
    metrics = read_metrics(source)
    metrics.recipe = recipe.to_dict()
    metrics.stages = [s for s in metrics.stages if s.index <= shared]
    metrics.teacher_stage = teacher_index(recipe)
    metrics.peers, metrics.targets, metrics.final_stage = [], [], None
    atomic.write_text(run_dir / METRICS_FILE, json.dumps(metrics.to_dict(), indent=1) + "\n")


def _index(folder: Path) -> int:
    prefix = folder.name.split("-", 1)[0]
    return int(prefix) if prefix.isdigit() else -1


def _link_tree(source: Path, target: Path) -> None:
    def link(src: str, dst: str) -> Any:
        try:
            os.link(src, dst)
        except OSError:  # another file system, or links refused: copy
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link,
                    ignore=shutil.ignore_patterns("checkpoints"))
