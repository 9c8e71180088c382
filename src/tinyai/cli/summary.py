"""`tinyai summary MODEL`: per-layer params, sparsity, dtype/bits, bytes and MACs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

_SHAPE_HELP = (
    "Shape the MACs are counted for, e.g. 1x128 (text: batch x tokens) or "
    "pixel_values=1x1x28x28; repeat as NAME=SHAPE for several inputs. "
    "Default: the model's own example inputs (text: 1 x 128 tokens)."
)


def summary(
    model: str = typer.Argument(
        ..., help="A short name (minilm-l6), a Hugging Face directory or a tinyai model directory."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    input_shape: Annotated[
        list[str] | None, typer.Option("--input-shape", help=_SHAPE_HELP)
    ] = None,
) -> None:
    """Show what a model stores and computes, per layer and in total (an artifact: what it
    holds, as `tinyai inspect` shows it; an architecture name: that architecture as built)."""
    from pathlib import Path

    from tinyai.measure.summary import summary as summarize

    if (Path(model) / "manifest.json").is_file():
        from tinyai.cli.inspect import inspect

        inspect(Path(model), as_json)
        return
    loaded = reference_model(model)
    inputs = loaded.example_inputs()  # type: ignore[operator]
    if input_shape:
        inputs = _reshaped(inputs, _parse_shapes(input_shape, list(inputs)))
    try:
        result = summarize(loaded, inputs)
    except RuntimeError as exc:  # shape mismatch inside forward: the user's --input-shape
        if not input_shape:
            raise
        reason = str(exc).strip().splitlines()[0]
        raise typer.BadParameter(f"the model cannot run on {input_shape}: {reason}") from None
    if as_json:
        typer.echo(result.to_json())
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze long layer names into 80 columns
        console = Console(width=200)
    console.print(result.rich_table())


def reference_model(name: str) -> Any:
    """A model directory or short name, or a built-in architecture with its default config
    (what `tinyai summary` and `tinyai prune --dry-run` take: neither needs trained weights)."""
    from tinyai.models import build_model, load_model
    from tinyai.recipe.models import architectures

    if is_architecture_name(name):
        return build_model(architectures()[name]())
    return load_model(name)


def is_architecture_name(name: str) -> bool:
    """A built-in architecture's name (char-transformer) that is not also a path here."""
    from pathlib import Path

    from tinyai.recipe.models import architectures

    return name in architectures() and not Path(name).exists()


def _parse_shapes(specs: list[str], names: list[str]) -> dict[str, tuple[int, ...]]:
    """'1x128' (every input) or 'name=1x128' -> {input name: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, _, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise typer.BadParameter(
                f"{spec!r}: write a shape as 1x128 or NAME=1x3x32x32"
            ) from None
        if any(d < 1 for d in shape):
            raise typer.BadParameter(f"{spec!r}: every dimension must be >= 1")
        if name and name not in names:
            raise typer.BadParameter(f"{spec!r}: the model's inputs are {', '.join(names)}")
        for target in [name] if name else names:
            shapes[target] = shape
    return shapes


def _reshaped(inputs: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    out = dict(inputs)
    for name, shape in shapes.items():
        old = inputs[name]
        if name == "attention_mask":
            out[name] = torch.ones(shape, dtype=old.dtype)
        elif old.dtype.is_floating_point:
            out[name] = torch.randn(shape, generator=gen, dtype=old.dtype)
        else:  # token ids: stay inside the range the example used (the vocabulary)
            out[name] = torch.randint(0, int(old.max()) + 1, shape, generator=gen, dtype=old.dtype)
    return out


def register(app: typer.Typer) -> None:
    app.command()(summary)
