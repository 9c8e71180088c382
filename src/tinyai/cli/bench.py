"""`tinyai bench ARTIFACT`: file size, latency, throughput and peak memory of an artifact."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def bench(
    artifact: Path = typer.Argument(..., help="Artifact directory written by tinyai export."),
    threads: int = typer.Option(1, min=1, help="onnxruntime intra-op threads (1 = one core)."),
    batch_size: int = typer.Option(32, min=1, help="Batch size for the throughput measurement."),
    runs: int = typer.Option(
        50, min=1, help="Timed batch-1 runs (throughput uses runs // 10, >= 3)."
    ),
    warmup: int = typer.Option(5, min=0, help="Untimed runs first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    out: Path | None = typer.Option(None, help="Also write the JSON to this file."),
) -> None:
    """Measure ARTIFACT in a fresh process: size, batch-1 latency, throughput, peak memory."""
    from tinyai import atomic
    from tinyai.errors import ConfigError
    from tinyai.runtime import bench as run_bench
    from tinyai.runtime import read_manifest

    read_manifest(artifact)  # a one-line error before spawning the measuring process
    if out is not None:
        atomic.check_writable(out, ConfigError)
    result = run_bench(artifact, threads=threads, batch_size=batch_size, runs=runs, warmup=warmup)
    text = json.dumps(result, indent=2)
    if out is not None:
        atomic.write_text(out, text + "\n")
    if as_json:
        typer.echo(text)
        return
    lat, e2e = result["latency_ms"], result["end_to_end_latency_ms"]
    typer.echo(f"artifact     {result['artifact']} ({result['task']}, {result['kind']})")
    typer.echo(f"size         {result['file_bytes']:,} bytes (model {result['model_bytes']:,})")
    typer.echo(
        f"latency      {lat['median']:.3f} ms median, {lat['p90']:.3f} ms p90 "
        f"(batch 1, {threads} thread(s), {runs} runs)"
    )
    typer.echo(f"end to end   {e2e['median']:.3f} ms median (with preprocessing)")
    typer.echo(
        f"throughput   {result['throughput_items_per_s']:,.1f} items/s at batch {batch_size}"
    )
    typer.echo(
        f"peak memory  {result['peak_memory_mb']:.1f} MB above a "
        f"{result['baseline_rss_mb']:.1f} MB "
        "process baseline"
    )


def register(app: typer.Typer) -> None:
    app.command()(bench)
