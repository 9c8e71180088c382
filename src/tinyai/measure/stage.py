"""Measure one model as deployed: its exported artifact scored, sized and timed, plus the
per-layer table of the PyTorch model it came from.

The metric comes from `tinyai.evaluate` on the artifact (the torch-free runtime, on the
task's held-out split), bytes from the artifact's files, latency from `tinyai.bench` in a
fresh process (batch 1, `threads` threads), parameters / MACs / per-layer bits from
`tinyai.summary`. The recipe runner records this for every stage; the report draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinyai.recipe.records import LayerRow, Measurement


def measure_artifact(
    artifact: Path,
    task: Any,
    model: Any = None,
    latency: bool = True,
    bench_runs: int = 50,
    threads: int = 1,
) -> tuple[Measurement, list[LayerRow]]:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime import bench, read_manifest
    from tinyai.runtime.size import artifact_bytes

    manifest = read_manifest(artifact)
    score = evaluate(artifact, task, threads=threads)
    metrics = score["metrics"]
    timing = bench(artifact, threads=threads, runs=bench_runs) if latency else None
    check = manifest.get("export_check") or {}
    measure = Measurement(
        metric=metrics.get(score["primary_metric"]),
        metrics=metrics,
        examples=score["examples"],
        bytes=artifact_bytes(artifact),
        bytes_without_tokenizer=artifact_bytes(artifact, tokenizer=False),
        parity_max_abs_diff=check.get("max_abs_diff"),
    )
    if timing is not None:
        measure.latency_ms = timing["latency_ms"]["median"]
        measure.latency_p90_ms = timing["latency_ms"]["p90"]
        measure.end_to_end_ms = timing["end_to_end_latency_ms"]["median"]
        measure.throughput = timing["throughput_items_per_s"]
        measure.peak_memory_mb = timing["peak_memory_mb"]
    layers: list[LayerRow] = []
    if model is not None:
        layers = _fill_from_summary(measure, model, task)
    return measure, layers


def _fill_from_summary(measure: Measurement, model: Any, task: Any) -> list[LayerRow]:
    from tinyai.measure.summary import summary

    inputs = task.example_inputs(1)
    device = next((p.device for p in model.parameters()), None)
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
    table = summary(model, inputs)
    measure.params, measure.nonzero_params, measure.macs = table.params, table.nonzero, table.macs
    return [
        LayerRow(row.name, row.type, row.params, row.nonzero, row.bits, row.bytes,
                 row.packed_bytes, row.macs)
        for row in table.layers
        if row.params and row.name
    ]
