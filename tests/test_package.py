"""The package imports cheaply, and the CLI answers --help and reports user errors in one line."""

import subprocess
import sys


def test_import_tinyai_does_not_import_torch_and_is_fast() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import tinyai; "
        "dt = time.perf_counter() - t; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'transformers' not in sys.modules; print(dt)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0.5


def test_public_verbs_resolve_lazily() -> None:
    import tinyai

    assert "summary" in dir(tinyai)
    assert tinyai.__version__


def test_cli_help_lists_commands(run_cli) -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    assert "techniques" in out.stdout


def test_every_cli_command_has_help(run_cli) -> None:
    import typer.main

    from tinyai.cli import app

    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        out = run_cli(name, "--help")
        assert out.returncode == 0, f"{name}: {out.stderr}"
        assert "Usage" in out.stdout


def test_cli_unknown_command_fails(run_cli) -> None:
    out = run_cli("no-such-command")
    assert out.returncode != 0
