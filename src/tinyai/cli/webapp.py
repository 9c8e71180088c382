"""`tinyai app ARTIFACT -o DIR`: a static web page that runs a character model in the browser.

(Not cli/app.py: importing a submodule named `app` would rebind `tinyai.cli.app`, the typer
application itself.)

See tinyai.app: the page suggests three word completions as you type, with onnxruntime-web
(copied into DIR from the npm package scripts/setup.sh fetches; nothing loaded from the web).
"""

from __future__ import annotations

from pathlib import Path

import typer


def webapp(
    artifact: Path = typer.Argument(..., help="Character-model artifact directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the page to."),
    force: bool = typer.Option(
        False, "--force", help="Replace a previous app folder even if it holds other files."
    ),
) -> None:
    """Write a web page that suggests words as you type, running ARTIFACT in the browser."""
    from tinyai.app import write_app

    path = write_app(artifact, out, force=force)
    typer.echo(f"wrote {path}; serve it with: python -m http.server -d {path} (then open it)")


def register(app: typer.Typer) -> None:
    app.command(name="app")(webapp)
