"""`tinyai compress RECIPE -o RUN_DIR`: run a whole compression job from one YAML recipe.

    tinyai compress recipes/fashion.yaml -o runs/fashion
    tinyai compress recipes/fashion.yaml -o runs/fashion --resume     # after a crash / Ctrl-C
    tinyai compress recipes/sst2.yaml --dry-run                        # validate, show the plan

Each stage is saved, exported and measured on its artifact; metrics.json, the final
artifact and the resolved recipe go to RUN_DIR. Missed targets are reported (exit 0;
--strict makes them exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def compress(
    recipe: Path = typer.Argument(..., help="The YAML recipe (see recipes/)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="The run directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in OUT."),
    force: bool = typer.Option(False, "--force", help="Start OUT over if it holds a run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the plan only."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a target is missed."),
    reuse: Path | None = typer.Option(
        None, "--reuse", help="An earlier run whose finished stages RECIPE begins with (its "
        "teacher, say): a new OUT starts after them."),
) -> None:
    """Run RECIPE: every stage saved, exported and measured; resumable."""
    from tinyai.errors import ConfigError
    from tinyai.recipe.schema import load_recipe

    loaded = load_recipe(recipe)
    given = loaded.given_roles()
    if given:
        # A recipe file cannot name code (nothing named in a file is imported): the module
        # comes from the caller's own Python.
        raise ConfigError(f"{recipe}: the {given[0]} is given: true, a module of your own code; "
                          f"such a recipe runs from Python: tinyai.compress({str(recipe)!r}, "
                          f"run_dir, {given[0]}=module)")
    if dry_run:
        from tinyai.recipe.plan import plan_table

        wide_console().print(plan_table(loaded))
        return
    if out is None:
        raise ConfigError("give the run directory: tinyai compress RECIPE -o RUN_DIR")
    if resume and force:
        raise ConfigError("--resume continues a run and --force starts it over; give one")
    metrics = run_and_print(loaded, out, resume=resume, force=force, reuse=reuse)
    if strict and not all(t.met for t in metrics.targets):
        raise typer.Exit(1)


def run_and_print(recipe: Any, out: Path, resume: bool, force: bool,
                  reuse: Path | None = None) -> Any:
    """Run a loaded recipe into `out` with progress on stderr, then print the stage table,
    each target met or missed and the paths of what was written; returns its RunMetrics."""
    from rich.console import Console

    from tinyai.recipe.runner import run_recipe

    metrics = run_recipe(recipe, out, resume=resume, force=force, reuse=reuse,
                         say=Console(stderr=True).print)
    stdout = wide_console()
    stdout.print(results_table(metrics))
    for target in metrics.targets:
        verdict = "met" if target.met else "MISSED"
        value = "not measured" if target.value is None else f"{target.value:,.4g}"
        stdout.print(f"target {target.name} {target.limit:,.4g}: {value} — {verdict}"
                     + (f" ({target.detail})" if target.detail else ""))
    stdout.print(f"final artifact: {out / 'artifact'}   metrics: {out / 'metrics.json'}   "
                 f"report: {out / 'report.html'}")
    return metrics


def wide_console() -> Any:
    """stdout; a table piped to a file or a test is not squeezed to 80 columns."""
    from rich.console import Console

    return Console() if Console().is_terminal else Console(width=160)


def results_table(metrics: Any) -> Any:
    """The stage table: metric, bytes, latency, params, each with its ratio to the teacher."""
    from rich.table import Table

    teacher = metrics.teacher()
    base = teacher.measure if teacher is not None else None
    metric = metrics.task.primary_metric
    table = Table("stage", "technique", metric, "bytes", "x smaller", "latency ms", "x faster",
                  "params", title=f"{metrics.task.name}: measured on each stage's artifact")
    for record in metrics.stages:
        m = record.measure
        if m is None:
            table.add_row(str(record.index) + " " + record.name, record.technique,
                          "—", "—", "", "—", "", "")
            continue
        table.add_row(
            f"{record.index} {record.name}", record.technique,
            _num(m.metric, ".4f"), _num(m.bytes, ",d"),
            _ratio(base.bytes if base else None, m.bytes), _num(m.latency_ms, ".3f"),
            _ratio(base.latency_ms if base else None, m.latency_ms), _num(m.params, ",d"),
        )
    return table


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _ratio(base: float | None, value: float | None) -> str:
    if not base or not value:
        return ""
    return f"{base / value:.1f}x"


def register(app: typer.Typer) -> None:
    app.command()(compress)
