"""`tinyai prune MODEL`: unstructured (--sparsity) or structured (--ratio) pruning.

    tinyai prune ./fashion-cnn --sparsity 0.9 --scope global --dry-run
    tinyai prune char-transformer --ratio 0.5 --dry-run      # an architecture, as summary takes
    tinyai prune ./fashion-cnn fashion-mnist --ratio 0.5 --out ./slim --epochs 1 --lr 1e-3
    tinyai prune ./minilm-sst2 sst2 --ratio 0.25 --target heads --target ffn --out ./slim

A dry run prints, per layer, what would be removed and the size/MACs after (the numbers
`tinyai summary` shows), and changes nothing. Otherwise it is a one-stage recipe: prune,
fine-tune when --steps/--epochs are given, save, and measure before and after on the
exported artifact (one-shot pruning without fine-tuning loses accuracy: it says by how much).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tinyai.cli import verbs


def prune(
    model: str = typer.Argument(
        ..., help="A tinyai model dir, a HF dir, a short name, or (with --dry-run) a built-in "
        "architecture name (char-transformer), as tinyai summary takes."),
    task: str | None = typer.Argument(None, help="The task to fine-tune and measure on."),
    sparsity: float | None = typer.Option(None, help="Unstructured: fraction of weights to zero."),
    scope: str | None = typer.Option(None, help="Unstructured ranking: layer (default) or global."),
    ratio: float | None = typer.Option(None, help="Structured: fraction of units to remove."),
    importance: str | None = typer.Option(
        None, help="Structured ranking: l1, l2 (default), taylor."),
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Structured: channels, neurons, heads, ffn (repeatable; "
                     "default: heads and ffn of an encoder, else channels and neurons)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Names never pruned (fnmatch pattern, repeatable)."),
    ] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    out: Path | None = typer.Option(None, help="Directory for the pruned model."),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    limit: int | None = verbs.LIMIT, eval_limit: int | None = verbs.EVAL_LIMIT,
    max_length: int | None = verbs.MAX_LENGTH,
    steps: int | None = verbs.STEPS, epochs: float | None = verbs.EPOCHS,
    batch_size: int | None = verbs.BATCH, lr: float | None = verbs.LR,
    bf16: bool | None = verbs.BF16, seed: int | None = verbs.SEED,
    resume: bool = verbs.RESUME, no_bench: bool = verbs.NO_BENCH, force: bool = verbs.FORCE,
    as_json: bool = typer.Option(False, "--json", help="Print the dry-run plan as JSON."),
) -> None:
    """Prune a model: show the plan, or apply it (fine-tuning after it with --steps/--epochs),
    save the smaller model and measure it before and after on its artifact."""
    from tinyai.errors import ConfigError

    if (sparsity is None) == (ratio is None):
        raise ConfigError("give exactly one of --sparsity (unstructured) or --ratio (structured)")
    if dry_run:
        loaded = _load(model)
        inputs = loaded.example_inputs()
        if ratio is not None:
            report = _structured(loaded, inputs, ratio, importance, target, exclude or [])
        else:
            report = _unstructured(loaded, sparsity or 0.0, scope or "layer", exclude or [])
        _print(report, as_json)
        return
    if out is None:
        raise ConfigError("pass --out DIR to save the pruned model, or --dry-run to preview")
    _refuse_untrained_architecture(model)
    verbs.check_target(out, "model", force)
    if ratio is not None:
        technique = "structured-pruning"
        config = verbs.given(ratio=ratio, importance=importance,
                             targets=list(target) if target else None,
                             ignored=list(exclude) if exclude else None)
    else:
        technique = "magnitude-pruning"
        config = verbs.given(sparsity=sparsity, scope=scope,
                             exclude=list(exclude) if exclude else None)
    train = verbs.given(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, bf16=bf16,
                        seed=seed)
    recipe = verbs.one_stage_recipe(
        model, verbs.task_spec(task, data, holdout, limit, eval_limit, max_length, model),
        technique,
        config, train=train or None, bench=not no_bench, measure_start=True)
    metrics, stage_dir, _ = verbs.run(recipe, out, resume)
    verbs.place(stage_dir / "model", out, "model", force)
    verbs.report(metrics, out, "the pruned model to")
    if not train:
        typer.echo("pruned without fine-tuning: to recover accuracy, fine-tune it "
                   f"(tinyai finetune {out} ... --steps N), or prune again with --steps N "
                   "to fine-tune right after pruning")


def _refuse_untrained_architecture(model: str) -> None:
    """An architecture name has no weights worth saving pruned: only its plan means anything."""
    from tinyai.cli.summary import is_architecture_name
    from tinyai.errors import ConfigError

    if is_architecture_name(model):
        raise ConfigError(f"{model} is an architecture without trained weights: add --dry-run "
                          "to see its pruning plan, or prune a trained model directory (e.g. one "
                          f"tinyai distill TEACHER TASK --arch {model} --out DIR saved)")


def _load(model: str) -> Any:
    # The references `tinyai summary` takes: a plan needs the architecture, not trained weights.
    from tinyai.cli.summary import reference_model

    return reference_model(model)


def _structured(
    model: Any,
    inputs: Any,
    ratio: float,
    importance: str | None,
    targets: list[str] | None,
    exclude: list[str],
) -> dict[str, Any]:
    from tinyai.prune import StructuredPruning, plan

    config = StructuredPruning(**verbs.given(
        ratio=ratio, importance=importance, targets=tuple(targets) if targets else None,
        ignored=tuple(exclude)))
    the_plan = plan(model, config, inputs)
    return {
        "kind": "structured",
        "headers": list(the_plan.HEADERS),
        "rows": the_plan.table_rows(),
        "plan": the_plan.to_dict(),
    }


def _unstructured(model: Any, sparsity: float, scope: str, exclude: list[str]) -> dict[str, Any]:
    """Per weight: zeros after pruning and the bytes it takes dense vs packed sparse."""
    from tinyai.prune import MagnitudePruning, magnitude_masks
    from tinyai.prune.masks import current_weight, prunable_weights
    from tinyai.runtime.codecs import encode_smallest

    config = MagnitudePruning(sparsity=sparsity, scope=scope, exclude=tuple(exclude))
    new_masks = magnitude_masks(model, config)
    rows = []
    totals = [0, 0, 0, 0]
    for full, module, attr in prunable_weights(model, exclude=config.exclude):
        weight = current_weight(module, attr)
        after = (weight * new_masks[full]).contiguous()
        after[after == 0] = 0.0  # +0.0 everywhere, as make_permanent stores it
        packed = len(encode_smallest(after.numpy())[1])
        values = [weight.numel(), int(after.count_nonzero()), weight.numel() * 4, packed]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        rows.append([full, "x".join(map(str, weight.shape)), *(f"{v:,}" for v in values)])
    rows.append(["TOTAL", "", *(f"{v:,}" for v in totals)])
    return {
        "kind": "unstructured",
        "rows": rows,
        "headers": ["weight", "shape", "params", "nonzero after", "bytes dense", "bytes packed"],
    }


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*report["headers"], title=f"{report['kind']} pruning plan")
    for row in report["rows"]:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(prune)
