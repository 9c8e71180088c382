"""The single-verb commands are one-stage recipes run by the recipe runner.

`tinyai finetune`, `distill`, `prune`, `quantize` and `export` build the same recipe a YAML
file would (`one_stage_recipe`), so names, defaults and validation are the recipe's and the
config dataclasses': every option here defaults to None, meaning "the dataclass default".
The runner works in a folder of the user cache keyed by the output path, which is what makes
`--resume` continue an interrupted command; the result (a model directory or an artifact)
is then put in place, and the command prints what was measured on its artifact: bytes, the
task metric on the held-out split, latency and the parity check.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import typer

# Options shared by the commands; help texts name the dataclass defaults they fall back to.
DATA = typer.Option(None, "--data", help="Your own data: SPLIT=PATH,... (a TSV/CSV table or a "
                    "folder of class folders), e.g. train=my.tsv,test=my_test.tsv.")
HOLDOUT = typer.Option(None, "--holdout", help="With only a train split: fraction held out.")
LIMIT = typer.Option(None, "--limit", help="Use only the first N training examples.")
EVAL_LIMIT = typer.Option(None, "--eval-limit", help="Score only the first N held-out examples.")
MAX_LENGTH = typer.Option(None, "--max-length", help="Text: tokens per example (default 128).")
STEPS = typer.Option(None, "--steps", help="Optimizer steps (default: --epochs).")
EPOCHS = typer.Option(None, "--epochs", help="Epochs when --steps is not given (default 1).")
BATCH = typer.Option(None, "--batch-size", help="Examples per step (default 32).")
LR = typer.Option(None, "--lr", help="Peak learning rate (default 5e-5).")
BF16 = typer.Option(None, "--bf16/--no-bf16", help="bf16 autocast (default off).")
SEED = typer.Option(None, "--seed", min=0, max=2**32 - 1,
                    help="Seed for shuffling, dropout, init (default 0).")
RESUME = typer.Option(False, "--resume", help="Continue this command after an interruption.")
NO_BENCH = typer.Option(False, "--no-bench", help="Skip the latency measurement.")
FORCE = typer.Option(False, "--force", help="Replace OUT even when files were added to the "
                     "model or artifact there (never a folder tinyai did not write).")


def _recorded_task(model: str | None) -> dict[str, Any] | None:
    """The `task:` mapping of the task a model directory was fitted to, if it records one:
    its user data spec, else the built-in task's name."""
    from tinyai.models.dir.carried import read_task

    if model is None or not Path(model).is_dir():
        return None
    record = read_task(Path(model))
    if record is None:
        return None
    spec = record.get("data_spec")
    if isinstance(spec, dict):
        return {k: v for k, v in spec.items() if k != "limit"}
    return {"name": record["name"]}


def task_spec(task: str | None, data: str | None, holdout: float | None = None,
              limit: int | None = None, eval_limit: int | None = None,
              max_length: int | None = None, model: str | None = None) -> dict[str, Any]:
    """The recipe's `task:` mapping from the command's options; without a task or --data,
    the task the model directory `model` records it was fitted to (task.json)."""
    from tinyai.errors import ConfigError
    from tinyai.tasks import TASK_NAMES
    from tinyai.tasks.spec import parse_data_option

    spec: dict[str, Any] = {}
    if task is not None and data is not None:
        raise ConfigError("give a task name or --data, not both")
    recorded = _recorded_task(model) if task is None and data is None else None
    if recorded is not None:
        spec = dict(recorded)
    elif task is None and data is None:
        raise ConfigError("give a task name (e.g. sst2, fashion-mnist) or your own data with "
                          "--data train=PATH,test=PATH")
    if task is not None and task not in TASK_NAMES and Path(task).expanduser().exists():
        # The first thing a user tries is `tinyai finetune minilm-l6 my_train.tsv`.
        raise ConfigError(f"{task} is a file or folder, not a task name; give your own data "
                          f"with --data train={task} (add test=PATH, or --holdout 0.1)")
    if task is not None:
        spec["name"] = task
    elif data is not None:
        spec["data"] = {k: str(Path(v).expanduser().resolve())
                        for k, v in parse_data_option(str(data)).items()}
    limits = {k: v for k, v in (("train", limit), ("eval", eval_limit)) if v is not None}
    if limits:
        spec["limit"] = limits
    if holdout is not None:
        spec["holdout"] = holdout
    if max_length is not None:
        spec["max_length"] = max_length
    return spec


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (None = not given: the dataclass default applies)."""
    return {k: v for k, v in options.items() if v is not None}


def one_stage_recipe(model: str, task: dict[str, Any], technique: str,
                     config: dict[str, Any], train: dict[str, Any] | None = None,
                     student: dict[str, Any] | None = None, bench: bool = True,
                     measure_start: bool = False, **stage: Any) -> Any:
    """The recipe of a single-verb command, validated exactly as a recipe file is."""
    from tinyai.recipe.schema import parse_recipe

    source = Path(model).expanduser()
    teacher = str(source.resolve()) if source.is_dir() else model
    body: dict[str, Any] = {technique: config, **stage}
    if train:
        body["train"] = train
    data: dict[str, Any] = {
        "version": 1, "name": technique, "task": task, "teacher": teacher, "stages": [body],
        "measure": {"every_stage": False, "teacher": measure_start, "latency": bench,
                    "bench_runs": 20},
    }
    if student is not None:
        data["student"] = student
    return parse_recipe(data)


def run(recipe: Any, out: Path, resume: bool) -> Any:
    """Run a one-stage recipe in its work folder; returns (metrics, the final stage's dir)."""
    from rich.console import Console

    from tinyai.recipe.runner import run_recipe

    work = work_dir(out, recipe.stages[0].technique)
    if work.exists() and not resume:
        shutil.rmtree(work)
    metrics = run_recipe(recipe, work, resume=resume and work.exists(),
                         say=Console(stderr=True).print)
    stage_dir = work / metrics.final().model_dir  # type: ignore[union-attr]
    return metrics, stage_dir.parent, work


def work_dir(out: Path, technique: str) -> Path:
    from tinyai.paths import cache_dir

    key = hashlib.sha256(f"{out.expanduser().resolve()}|{technique}".encode()).hexdigest()[:16]
    return cache_dir("cli-runs") / key


def check_target(target: Path, kind: str, force: bool = False) -> None:
    """Refuse an output path that holds something tinyai may not replace, before any work."""
    from tinyai import atomic
    from tinyai.errors import ConfigError

    atomic.check_replaceable(target, _unknown_files(kind), force, ConfigError)


def place(source: Path, target: Path, kind: str, force: bool = False) -> Path:
    """Put a finished model directory or artifact (`kind`) at `target`: a new path, or one
    holding a tinyai model or artifact of that kind with nothing else in it (`force` also
    replaces one the user added files to; a foreign folder is never replaced)."""
    from tinyai import atomic
    from tinyai.errors import ConfigError

    check_target(target, kind, force)
    staging = atomic.staging_dir(target)
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        atomic.replace_dir(staging, target, _unknown_files(kind), force, ConfigError)
    finally:
        if staging.exists():
            atomic.remove_tree(staging)
    return target


def _unknown_files(kind: str) -> Any:
    if kind == "artifact":
        from tinyai.runtime.manifest import unknown_files

        return unknown_files
    from tinyai.models.io import unknown_files as model_unknown_files

    return model_unknown_files


def report(metrics: Any, out: Path, what: str) -> None:
    """Print what the command made, measured on its artifact."""
    from rich.console import Console

    console = Console() if Console().is_terminal else Console(width=160)
    final, start = metrics.final(), metrics.teacher()
    m = final.measure if final is not None else None
    console.print(f"wrote {what} {out}")
    if m is None:
        return
    name = metrics.task.primary_metric
    line = f"{metrics.task.name} {metrics.task.split}: {name} {m.metric:.4f}"
    if start is not None and start is not final and start.measure is not None:
        before = start.measure.metric
        line += f" (before: {before:.4f}, {m.metric - before:+.4f})"
    console.print(line + f" on {m.examples} examples, measured on the exported artifact")
    size = f"artifact: {m.bytes:,} bytes ({m.bytes_without_tokenizer:,} without the tokenizer)"
    if m.latency_ms is not None:
        size += f", batch-1 latency {m.latency_ms:.3f} ms (1 thread)"
    console.print(size)
    if m.parity_max_abs_diff is not None:
        console.print(f"parity with PyTorch: max |diff| = {m.parity_max_abs_diff:.3g}")
