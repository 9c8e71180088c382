"""`tinyai version` and `tinyai techniques`."""

from __future__ import annotations

import json

import typer


def version() -> None:
    """Print the tinyai version."""
    from tinyai import __version__

    typer.echo(__version__)


def techniques(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the registered techniques and their config types."""
    from tinyai import registry

    rows = [
        {"name": t.name, "kind": t.kind, "config": t.config_cls.__name__, "summary": t.summary}
        for t in registry.techniques()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("technique", "kind", "config", "what it does")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["config"], row["summary"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(version)
    app.command()(techniques)
