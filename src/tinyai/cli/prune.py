"""`tinyai prune MODEL`: unstructured (--sparsity) or structured (--ratio) pruning.

    tinyai prune ./fashion-cnn --sparsity 0.9 --scope global --dry-run
    tinyai prune ./fashion-cnn --ratio 0.5 --out ./fashion-cnn-slim
    tinyai prune ./minilm-sst2 --ratio 0.25 --target heads --target ffn --out ./slim

A dry run prints, per layer, what would be removed and the size/MACs after, and changes
nothing. One-shot pruning without fine-tuning loses accuracy: fine-tune the result
(`tinyai finetune`), or use the Python API's GradualPruner inside training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def prune(
    model: str = typer.Argument(..., help="A tinyai model dir, a HF dir or a short name."),
    sparsity: float | None = typer.Option(None, help="Unstructured: fraction of weights to zero."),
    scope: str = typer.Option("layer", help="Unstructured ranking: 'layer' or 'global'."),
    ratio: float | None = typer.Option(None, help="Structured: fraction of units to remove."),
    importance: str = typer.Option("l2", help="Structured ranking: l1, l2 (magnitude)."),
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Structured: channels, neurons, heads, ffn (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Names never pruned (fnmatch pattern, repeatable)."),
    ] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    out: Path | None = typer.Option(None, help="Directory for the pruned model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Prune a model: show the plan, or apply it and save plan + compact weights."""
    from tinyai.errors import ConfigError

    if (sparsity is None) == (ratio is None):
        raise ConfigError("give exactly one of --sparsity (unstructured) or --ratio (structured)")
    if not dry_run and out is None:
        raise ConfigError("pass --out DIR to save the pruned model, or --dry-run to preview")
    loaded = _load(model)
    inputs = loaded.example_inputs()
    if ratio is not None:
        report = _structured(loaded, inputs, ratio, importance, target, exclude or [], dry_run)
    else:
        report = _unstructured(loaded, sparsity or 0.0, scope, exclude or [], dry_run)
    if out is not None and not dry_run:
        from tinyai.prune import save_pruned

        save_pruned(loaded, out)
        report["saved_to"] = str(out)
    _print(report, as_json)


def _load(model: str) -> Any:
    from tinyai.models import load_model
    from tinyai.prune import load_pruned
    from tinyai.prune.serialize import PRUNING_FILE

    if (Path(model) / PRUNING_FILE).is_file():
        return load_pruned(model)
    return load_model(model)


def _structured(
    model: Any,
    inputs: Any,
    ratio: float,
    importance: str,
    targets: list[str] | None,
    exclude: list[str],
    dry_run: bool,
) -> dict[str, Any]:
    from tinyai.prune import StructuredPruning, apply_plan, plan
    from tinyai.prune.serialize import PLAN_ATTR
    from tinyai.prune.transformer import attention_blocks

    default = ("heads", "ffn") if attention_blocks(model) else ("channels", "neurons")
    config = StructuredPruning(
        ratio=ratio,
        importance=importance,
        targets=tuple(targets or default),
        ignored=tuple(exclude),
    )
    the_plan = plan(model, config, inputs)
    if not dry_run:
        apply_plan(model, the_plan)
        object.__setattr__(model, PLAN_ATTR, [*getattr(model, PLAN_ATTR, []), the_plan.to_dict()])
    return {
        "kind": "structured",
        "headers": list(the_plan.HEADERS),
        "rows": the_plan.table_rows(),
        "plan": the_plan.to_dict(),
    }


def _unstructured(
    model: Any, sparsity: float, scope: str, exclude: list[str], dry_run: bool
) -> dict[str, Any]:
    """Per weight: zeros after pruning and the bytes it takes dense vs packed sparse."""
    from tinyai.prune import MagnitudePruning, magnitude_masks, make_permanent
    from tinyai.prune.masks import apply_masks, current_weight, prunable_weights
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
    if not dry_run:
        apply_masks(model, new_masks)
        make_permanent(model)
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
    if "saved_to" in report:
        console.print(f"saved to {report['saved_to']}")


def register(app: typer.Typer) -> None:
    app.command()(prune)
