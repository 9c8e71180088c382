"""`tinyai demo`: the shipped demo recipe (recipes/demo.yaml) through `tinyai compress`."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyai.paths import REPO_ROOT


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="The run directory."),
    recipe: Path = typer.Option(REPO_ROOT / "recipes" / "demo.yaml",
                                help="The recipe to run (default: the shipped demo)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted demo."),
) -> None:
    """Run the demo recipe end to end and print what was measured on the artifacts."""
    from tinyai.cli.compress import compress

    compress(recipe=recipe, out=out, resume=resume, force=not resume, dry_run=False,
             strict=False)


def register(app: typer.Typer) -> None:
    app.command()(demo)
