"""`tinyai demo`: the whole pipeline on a built-in default (Fashion-MNIST), measured."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Where the artifacts and report go."),
    epochs: float = typer.Option(2.0, min=0.01, help="Training epochs of the baseline CNN."),
    quick: bool = typer.Option(False, "--quick", help="A one-minute smoke run on 6k images."),
) -> None:
    """Train, prune, quantize and export a Fashion-MNIST CNN; compare the two artifacts."""
    from rich.console import Console
    from rich.table import Table

    from tinyai.demo import DemoConfig, run_demo

    console = Console()
    config = DemoConfig(
        out_dir=str(out),
        epochs=0.5 if quick else epochs,
        finetune_epochs=0.5 if quick else 1.0,
        train_limit=6000 if quick else None,
        bench_runs=50 if quick else 200,
    )
    report = run_demo(config, say=console.print)
    table = Table("artifact", "accuracy", "bytes on disk", "latency (median)", "p90",
                  title="Fashion-MNIST test set (10,000 images), measured on the artifacts")
    for name, row in report["artifacts"].items():
        table.add_row(name, f"{row['accuracy']:.2%}", f"{row['bytes']:,}",
                      f"{row['latency_ms_median']:.3f} ms", f"{row['latency_ms_p90']:.3f} ms")
    console.print(table)
    r = report["ratios"]
    console.print(f"{r['size_x_smaller']:.1f}x smaller, {r['latency_speedup']:.2f}x faster, "
                  f"accuracy {r['accuracy_change_pt']:+.2f} pt  (report: {out / 'report.json'})")


def register(app: typer.Typer) -> None:
    app.command()(demo)
