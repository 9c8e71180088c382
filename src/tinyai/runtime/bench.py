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
    if runs < 1 or warmup < 0 or batch_size < 1 or threads < 1:
        raise ValueError("runs, batch_size and threads must be >= 1 and warmup >= 0")
    args = {
        "artifact": str(artifact),
        "threads": threads,
        "batch_size": batch_size,
        "runs": runs,
        "warmup": warmup,
    }
    if not isolate:
        return _measure(**args)
    proc = subprocess.run(
        [sys.executable, "-m", "tinyai.runtime.bench", json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise ArtifactError(
            f"benchmark of {artifact} failed: {lines[-1] if lines else proc.returncode}"
        )
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
    end_to_end = _timed(
        lambda: predictor.outputs(sample_inputs(predictor, 1)), max(5, runs // 5), 1
    )
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


if __name__ == "__main__":  # the isolated worker: python -m tinyai.runtime.bench '{json}'
    print(json.dumps(_measure(**json.loads(sys.argv[1]))))
