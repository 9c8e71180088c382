"""Benchmark rows measured on exported artifacts, never on the PyTorch model.

Every benchmark track ends the same way: export the compressed model, then report the
artifact's size (from its files), latency/throughput/memory (`tinyai bench`, isolated
process, 1 thread) and score (`tinyai evaluate` on the artifact, through the torch-free
runtime). These helpers do that and return one JSON-able row per artifact, with the shell
commands that reproduce each figure.

    from benchmarks.artifacts import export_row, measure_side_by_side, markdown_table
    row = export_row(model, task, "fashion-cnn-pruned90", history=[...])
    rows = measure_side_by_side({"dense": dense_dir, "pruned": pruned_dir}, task)
    print(markdown_table(rows))

Timing while other processes share the machine is noisy, so `measure_side_by_side` benches
the artifacts in interleaved rounds and keeps, per artifact, the round with the median
latency: ratios between rows are then taken under the same conditions.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tinyai.paths import cache_dir


def artifact_dir(name: str) -> Path:
    """Where benchmark artifacts live (outside the repository: MiniLM ones are ~90 MB)."""
    return cache_dir("bench-artifacts") / name


def export_row(
    model: Any,
    task: Any,
    name: str,
    *,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    config: Any = None,
    limit: int | None = None,
    runs: int = 50,
    threads: int = 1,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Export `model` to artifact_dir(name), then measure it (see `measure_row`)."""
    import tinyai

    path = tinyai.export(
        model, artifact_dir(name), task=task, config=config, history=history, metrics=metrics
    )
    return measure_row(
        path, task, name=name, limit=limit, runs=runs, threads=threads, batch_size=batch_size
    )


def measure_row(
    path: str | Path,
    task: Any = None,
    *,
    name: str | None = None,
    limit: int | None = None,
    runs: int = 50,
    threads: int = 1,
    batch_size: int = 32,
    bench_result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Bench + evaluate one artifact; `bench_result` reuses a measurement already taken."""
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime import bench

    path = Path(path)
    timing = bench_result or bench(path, threads=threads, batch_size=batch_size, runs=runs)
    score = evaluate(path, task, limit=limit, threads=threads)
    metric = score["primary_metric"]
    return {
        "name": name or path.name,
        "task": score["task"],
        "artifact": str(path),
        "file_bytes": timing["file_bytes"],
        "model_bytes": timing["model_bytes"],
        "latency_ms": timing["latency_ms"]["median"],
        "latency_p90_ms": timing["latency_ms"]["p90"],
        "throughput_items_per_s": timing["throughput_items_per_s"],
        "batch_size": timing["batch_size"],
        "peak_memory_mb": timing["peak_memory_mb"],
        "threads": timing["threads"],
        "metric": metric,
        "score": score["metrics"][metric],
        "metrics": score["metrics"],
        "examples": score["examples"],
        "split": score["split"],
        "commands": commands(
            path, score["task"], limit=limit, runs=runs, threads=threads, batch_size=batch_size
        ),
    }


def measure_side_by_side(
    artifacts: dict[str, str | Path],
    task: Any = None,
    *,
    rounds: int = 3,
    limit: int | None = None,
    runs: int = 50,
    threads: int = 1,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Rows for several artifacts, benched in interleaved rounds (A B C, A B C, ...)."""
    from tinyai.runtime import bench

    taken: dict[str, list[dict[str, Any]]] = {name: [] for name in artifacts}
    for _ in range(max(1, rounds)):
        for name, path in artifacts.items():
            taken[name].append(bench(path, threads=threads, batch_size=batch_size, runs=runs))
    rows = []
    for name, path in artifacts.items():
        ordered = sorted(taken[name], key=lambda r: r["latency_ms"]["median"])
        rows.append(
            measure_row(
                path,
                task,
                name=name,
                limit=limit,
                runs=runs,
                threads=threads,
                batch_size=batch_size,
                bench_result=ordered[len(ordered) // 2],
            )
        )
    return rows


def commands(
    path: str | Path, task: str, *, limit: int | None, runs: int, threads: int, batch_size: int
) -> list[str]:
    """The CLI commands that reproduce a row's figures from its artifact."""
    where = shlex.quote(str(path))
    evaluate = f"tinyai evaluate {where} --task {task} --json"
    if limit is not None:
        evaluate += f" --limit {limit}"
    return [
        f"tinyai bench {where} --threads {threads} --batch-size {batch_size} --runs {runs} --json",
        evaluate,
    ]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One line per artifact: size, latency, throughput, memory, score."""
    header = (
        "| artifact | size (KB) | latency p50 / p90 (ms) | throughput (items/s) "
        "| peak mem (MB) | score |\n|---|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['file_bytes'] / 1024:,.1f} "
            f"| {r['latency_ms']:.3f} / {r['latency_p90_ms']:.3f} "
            f"| {r['throughput_items_per_s']:,.1f} (batch {r['batch_size']}) "
            f"| {r['peak_memory_mb']:.1f} | {r['metric']} {r['score']:.4f} |"
        )
    return "\n".join(lines)


def teacher_relative_table(rows: list[dict[str, Any]], metric: str, label: str) -> str:
    """Students against the teacher (first row): score (`<metric>_artifact`, else
    `<metric>_torch`), share of the teacher's score, size and speed ratios."""
    teacher = rows[0]

    def score(r: dict[str, Any]) -> float:
        return r.get(f"{metric}_artifact", r[f"{metric}_torch"])

    lines = [
        f"| model | {label} | % of teacher | params | file bytes | x smaller | "
        "latency b=1 (ms) | x faster |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {score(r):.2f} | {100 * score(r) / score(teacher):.1f}% | "
            f"{r['params'] / 1e6:.2f}M | {r.get('bytes', 0):,} | "
            f"{teacher.get('bytes', 0) / max(1, r.get('bytes', 1)):.1f} | "
            f"{r.get('latency_ms', float('nan')):.2f} | "
            f"{teacher.get('latency_ms', 0) / max(1e-9, r.get('latency_ms', 1e-9)):.1f} |"
        )
    return "\n".join(lines)
