"""`tinyai report RUN_DIR [RUN_DIR ...] -o OUT`: draw the HTML report of one run, or compare
several runs on one page."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    run_dirs: list[Path] = typer.Argument(
        ..., help="Run directories written by tinyai compress (each holds a metrics.json)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Folder for report.html and the charts. Default: the run directory, for one run.",
    ),
) -> None:
    """Write report.html (self-contained, opens offline) and each chart as SVG and PNG."""
    from tinyai.errors import ConfigError
    from tinyai.report import write_report

    if out is None:
        if len(run_dirs) > 1:
            raise ConfigError("several runs are compared on one page: say where it goes with -o")
        out = run_dirs[0]
    typer.echo(write_report(run_dirs, out))


def register(app: typer.Typer) -> None:
    app.command()(report)
