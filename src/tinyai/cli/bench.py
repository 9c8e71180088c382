"""`tinyai bench ARTIFACT`: file size, latency, throughput and peak memory of an artifact."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def bench(
    artifacts: list[Path] = typer.Argument(..., help="Artifact directory written by tinyai "
                                           "export; several: timed side by side."),
    threads: int = typer.Option(1, min=1, help="onnxruntime intra-op threads (1 = one core)."),
    batch_size: int = typer.Option(32, min=1, help="Batch size for the throughput measurement."),
    runs: int = typer.Option(
        50, min=1, help="Timed batch-1 runs (throughput uses runs // 10, >= 3)."
    ),
    warmup: int = typer.Option(5, min=0, help="Untimed runs first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    out: Path | None = typer.Option(None, help="Also write the JSON to this file."),
) -> None:
    """Measure ARTIFACT in a fresh process: size, batch-1 latency, throughput, peak memory;
    several artifacts: their batch-1 latencies interleaved in rounds, with ratios to the
    first."""
    from tinyai.runtime import bench as run_bench
    from tinyai.runtime import read_manifest

    for artifact in artifacts:
        read_manifest(artifact)  # a one-line error before spawning the measuring process
    if len(artifacts) > 1:
        _compare(artifacts, threads, runs, warmup, as_json, out)
        return
    artifact = artifacts[0]
    result = run_bench(artifact, threads=threads, batch_size=batch_size, runs=runs, warmup=warmup)
    text = json.dumps(result, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
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
    typer.echo(f"end to end   {e2e['median']:.3f} ms median (with preprocessing, {runs} runs)")
    typer.echo(
        f"throughput   {result['throughput_items_per_s']:,.1f} items/s at batch {batch_size}"
    )
    typer.echo(
        f"peak memory  {result['peak_memory_mb']:.1f} MB above a "
        f"{result['baseline_rss_mb']:.1f} MB "
        "process baseline"
    )


def _compare(artifacts: list[Path], threads: int, runs: int, warmup: int, as_json: bool,
             out: Path | None) -> None:
    from tinyai.runtime.bench import compare

    result = compare(list(artifacts), threads=threads, runs=runs, warmup=warmup)
    text = json.dumps(result, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if as_json:
        typer.echo(text)
        return
    typer.echo(f"batch 1, {threads} thread(s), {result['rounds']} interleaved rounds of "
               f"{result['runs_per_round']} runs; ratios to the first artifact")
    for row in result["rows"]:
        lat = row["latency_ms"]
        typer.echo(f"{row['artifact']}: {lat['median']:.3f} ms median ({lat['p90']:.3f} p90), "
                   f"{row['bytes']:,} bytes — {row['x_faster']:.2f}x faster, "
                   f"{row['x_smaller']:.2f}x smaller")


def register(app: typer.Typer) -> None:
    app.command()(bench)
