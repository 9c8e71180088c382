"""The `tinyai` command: a thin typer layer over the library.

Each command lives in its own module with a `register(app)` function and imports heavy
modules (torch, transformers) inside the command body, so `tinyai --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from tinyai.errors import TinyAIError

app = typer.Typer(
    name="tinyai",
    help="Shrink PyTorch models for on-device inference, and measure what was gained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules under tinyai.cli, in the order they appear in --help.
COMMAND_MODULES = (
    "compress", "report", "demo", "init", "finetune", "distill", "prune", "quantize",
    "export", "inspect", "predict", "listen", "webapp", "bench", "evaluate", "summary", "info",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"tinyai.cli.{_name}").register(app)


def main() -> None:
    """Entry point: user errors print one line and exit 2; Ctrl-C during training prints how
    to resume and exits 130; bugs keep their traceback."""
    try:
        app()
    except TinyAIError as exc:
        from tinyai.train import Interrupted

        typer.echo(f"error: {exc}" if not isinstance(exc, Interrupted) else str(exc), err=True)
        sys.exit(130 if isinstance(exc, Interrupted) else 2)
    except KeyboardInterrupt:
        typer.echo("interrupted before training began; nothing was saved", err=True)
        sys.exit(130)
