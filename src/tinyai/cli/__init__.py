"""The `tinyai` command: a thin typer layer over the library.

Each command lives in its own module with a `register(app)` function and imports heavy
modules (torch, transformers) inside the command body, so `tinyai --help` stays fast.

Errors: whatever a user can get wrong ends in ONE line on stderr, ``error: ...``, and exit
status 2 (`main`): tinyai's own errors, a config's validation error, a bad option or
argument (click's usage errors, printed without the usage block), and an operating-system
refusal (a path too long, a folder that cannot be written). ``tinyai --debug COMMAND`` also
prints the traceback. Ctrl-C exits with status 130 and says what was kept.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import typer

from tinyai.errors import Interrupted, TinyAIError

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

_DEBUG = {"on": False}
# The click exceptions typer raises: recent typer vendors click as typer._click, older typer
# uses the click package; BadParameter's module is the right one either way.
_CLICK = importlib.import_module(typer.BadParameter.__module__)


@app.callback()
def _options(debug: bool = typer.Option(
        False, "--debug", help="On an error, print the Python traceback too.")) -> None:
    _DEBUG["on"] = debug


def main() -> None:
    """Entry point: run the command; every error a user can cause is one line (see above)."""
    try:
        code = app(standalone_mode=False)
    except _CLICK.NoArgsIsHelpError as exc:  # `tinyai` alone: the help
        typer.echo(exc.format_message(), err=True)
        sys.exit(2)
    except _CLICK.UsageError as exc:
        _fail(exc, f"{exc.format_message().rstrip('.')}; see {_command(exc.ctx)} --help")
    except _CLICK.ClickException as exc:
        _fail(exc, exc.format_message())
    except typer.Abort as exc:
        _fail(exc, "aborted")
    except Interrupted as exc:
        _fail(exc, str(exc), code=130, prefix="")
    except TinyAIError as exc:
        _fail(exc, str(exc))
    except OSError as exc:  # the system refused a path: too long, not writable, no space...
        where = f" {exc.filename}" if exc.filename else ""
        _fail(exc, f"cannot use{where} ({exc.strerror or exc}); check the path, its "
                   "permissions and the free space")
    except (ValueError, TypeError) as exc:
        message = config_error_message(exc)
        if message is None:
            raise  # a bug: keep its traceback
        _fail(exc, message)
    if code == 130:  # typer turns Ctrl-C outside training into exit status 130
        typer.echo("interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: BaseException, message: str, code: int = 2, prefix: str = "error: ") -> None:
    if _DEBUG["on"]:
        traceback.print_exception(exc)
    # One line, whatever the message holds (an onnxruntime or YAML message may span several).
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    typer.echo(prefix + line, err=True)
    sys.exit(code)


def _command(ctx: Any) -> str:
    return f"tinyai {ctx.info_name}" if ctx is not None and ctx.parent is not None else "tinyai"


def config_error_message(exc: BaseException) -> str | None:
    """The one-line message of a config dataclass's own validation error (a ValueError or
    TypeError raised in a `tinyai.config.Config`'s ``__post_init__``, e.g. a config built
    directly from a command's options), else None: any other ValueError is a bug."""
    import dataclasses

    from tinyai.config import Config, _validation_message

    owner: Any = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "__post_init__" and isinstance(frame.f_locals.get("self"),
                                                                  Config):
            owner = frame.f_locals["self"]
        tb = tb.tb_next
    if owner is None:
        return None
    fields = {f.name for f in dataclasses.fields(owner)}
    name = type(owner).__name__
    return _validation_message(name, name, str(exc), fields)
