"""Measure an artifact as a device would run it: size, latency, throughput, peak memory.

By default the measurement runs in a fresh Python process, so peak memory is that of a
process which only loaded this artifact (not of whatever the caller had loaded before) and
no earlier session warms the caches. Latency is batch 1 with `threads` intra-op threads (1 by
default: a phone core, not a workstation), after warm-up, as median and p90 over many runs;
throughput is items per second at `batch_size`. Inputs are fixed, realistic raw inputs
(a sentence, an image, a one-second clip, a full-context prompt) so preprocessing cost is
reported too.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError

SAMPLE_SENTENCE = (
    "The film is a quietly moving portrait of a family, funny and sad by turns, "
    "and its final scene stays with you long after the credits roll."
)
SAMPLE_PROSE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
)


def bench(
    artifact: str | Path,
    threads: int = 1,
    batch_size: int = 32,
    runs: int = 50,
    warmup: int = 5,
    isolate: bool = True,
) -> dict[str, Any]:
    """Benchmark `artifact`; returns a JSON-able dict (see module docstring)."""
    _check_counts(runs, warmup, batch_size, threads)
    args = {
        "artifact": str(artifact),
        "threads": threads,
        "batch_size": batch_size,
        "runs": runs,
        "warmup": warmup,
    }
    if not isolate:
        return _measure(**args)
    return _in_fresh_process("measure", args, threads, str(artifact))


def compare(
    artifacts: list[str | Path], threads: int = 1, runs: int = 50, warmup: int = 5,
    rounds: int = 10,
) -> dict[str, Any]:
    """Batch-1 latency of several artifacts side by side: one fresh process loads them all,
    then times them in `rounds` interleaved rounds of runs // rounds each, so a change in the
    machine's load hits every artifact alike; ratios are to the first artifact."""
    _check_counts(runs, warmup, 1, threads)
    if len(artifacts) < 2 or rounds < 1:
        raise ArtifactError("compare needs two or more artifacts and rounds >= 1")
    args = {"artifacts": [str(a) for a in artifacts], "threads": threads, "runs": runs,
            "warmup": warmup, "rounds": rounds}
    return _in_fresh_process("compare", args, threads, ", ".join(map(str, artifacts)))


def _check_counts(runs: int, warmup: int, batch_size: int, threads: int) -> None:
    if runs < 1 or warmup < 0 or batch_size < 1 or threads < 1:
        raise ArtifactError("runs, batch size and threads must be >= 1 and warmup >= 0; "
                            "give positive counts")


def _in_fresh_process(kind: str, args: dict[str, Any], threads: int, what: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyai.runtime.bench", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else proc.returncode
        raise ArtifactError(f"benchmark of {what} failed: {reason}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sample_inputs(predictor: Any, count: int) -> Any:
    """`count` copies of a realistic raw input for the artifact's kind."""
    settings = predictor.manifest["preprocessing"]
    kind = settings["type"]
    if kind == "text":
        item: Any = (
            (SAMPLE_SENTENCE, SAMPLE_SENTENCE) if settings.get("text_pair") else SAMPLE_SENTENCE
        )
        return [item] * count
    rng = np.random.default_rng(0)
    if kind == "image":
        shape = (count, settings["height"], settings["width"])
        if settings["normalization"]["channels"] == 3:
            shape = (*shape, 3)
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "audio":
        return (rng.standard_normal((count, int(settings["num_samples"]))) * 0.1).astype(np.float32)
    if kind == "chars":
        seq_len = int(settings["seq_len"])
        text = (SAMPLE_PROSE * (seq_len // len(SAMPLE_PROSE) + 1))[:seq_len]
        return [text] * count
    raise ArtifactError(f"no benchmark input for preprocessing type {kind!r}")


def _timed(fn: Any, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def _summary(times_ms: list[float]) -> dict[str, float]:
    t = np.asarray(times_ms)
    return {
        "median": round(float(np.median(t)), 4),
        "p90": round(float(np.percentile(t, 90)), 4),
        "mean": round(float(t.mean()), 4),
        "min": round(float(t.min()), 4),
        "runs": len(times_ms),
    }


def _measure(
    artifact: str, threads: int, batch_size: int, runs: int, warmup: int
) -> dict[str, Any]:
    import onnxruntime

    from tinyai.runtime import load_artifact, read_manifest, verify_files
    from tinyai.runtime.memory import peak_rss_bytes, reset_peak_rss, rss_bytes
    from tinyai.runtime.size import artifact_bytes

    baseline = rss_bytes()
    reset_peak_rss()
    start = time.perf_counter()
    verify_files(artifact, read_manifest(artifact))
    verify_ms = (time.perf_counter() - start) * 1000.0
    start = time.perf_counter()
    predictor = load_artifact(artifact, threads=threads, verify=False)
    load_ms = (time.perf_counter() - start) * 1000.0
    one = predictor.preprocess(sample_inputs(predictor, 1))
    many = predictor.preprocess(sample_inputs(predictor, batch_size))
    latency = _timed(lambda: predictor.run(one), runs, warmup)
    # The same number of runs as the model alone, so the two figures compare.
    end_to_end = _timed(lambda: predictor.outputs(sample_inputs(predictor, 1)), runs, warmup)
    batch_runs = max(3, runs // 10)
    batch = _timed(lambda: predictor.run(many), batch_runs, max(1, warmup // 5))
    manifest = predictor.manifest
    files = {name: entry["bytes"] for name, entry in manifest["files"].items()}
    model_files = [manifest["model"]["file"]] + (
        [manifest["packed_weights"]["file"]] if manifest.get("packed_weights") else []
    )
    return {
        "artifact": str(artifact),
        "task": manifest["task"],
        "kind": manifest["kind"],
        "file_bytes": artifact_bytes(artifact),
        "model_bytes": sum(files[f] for f in model_files),
        "files": files,
        "threads": threads,
        "input_shapes": {k: list(v.shape) for k, v in one.items()},
        "runs": runs,
        "warmup": warmup,
        "verify_ms": round(verify_ms, 3),
        "load_ms": round(load_ms, 3),
        "latency_ms": _summary(latency),
        "end_to_end_latency_ms": _summary(end_to_end),
        "batch_size": batch_size,
        "batch_latency_ms": _summary(batch),
        "throughput_items_per_s": round(batch_size * 1000.0 / float(np.median(batch)), 3),
        "peak_rss_mb": round(peak_rss_bytes() / 2**20, 2),
        "baseline_rss_mb": round(baseline / 2**20, 2),
        "peak_memory_mb": round((peak_rss_bytes() - baseline) / 2**20, 2),
        "onnxruntime": onnxruntime.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, "
        f"{os.cpu_count()} cpus",
    }


def _compare(artifacts: list[str], threads: int, runs: int, warmup: int,
             rounds: int) -> dict[str, Any]:
    from tinyai.runtime import load_artifact
    from tinyai.runtime.size import artifact_bytes

    predictors = [load_artifact(a, threads=threads) for a in artifacts]
    inputs = [p.preprocess(sample_inputs(p, 1)) for p in predictors]
    for p, x in zip(predictors, inputs, strict=True):
        _timed(lambda p=p, x=x: p.run(x), 0, warmup)
    per_round = max(1, runs // rounds)
    times: list[list[float]] = [[] for _ in predictors]
    for _ in range(rounds):
        for i, (p, x) in enumerate(zip(predictors, inputs, strict=True)):
            times[i] += _timed(lambda p=p, x=x: p.run(x), per_round, 0)
    rows = [{"artifact": a, "bytes": artifact_bytes(a), "latency_ms": _summary(t)}
            for a, t in zip(artifacts, times, strict=True)]
    base = rows[0]
    for row in rows:
        row["x_faster"] = round(base["latency_ms"]["median"] / row["latency_ms"]["median"], 3)
        row["x_smaller"] = round(base["bytes"] / row["bytes"], 3)
    return {"threads": threads, "rounds": rounds, "runs_per_round": per_round,
            "warmup": warmup, "rows": rows}


if __name__ == "__main__":  # the isolated worker: python -m tinyai.runtime.bench KIND '{json}'
    worker = {"measure": _measure, "compare": _compare}[sys.argv[1]]
    print(json.dumps(worker(**json.loads(sys.argv[2]))))
