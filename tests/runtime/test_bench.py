"""`bench` measures the artifact file: its size on disk, latency, throughput, peak memory."""

import json

from artifact_cases import artifact

from tinyai.runtime import bench

KEYS = {
    "file_bytes",
    "model_bytes",
    "latency_ms",
    "end_to_end_latency_ms",
    "batch_latency_ms",
    "throughput_items_per_s",
    "peak_memory_mb",
    "peak_rss_mb",
    "threads",
    "batch_size",
    "runs",
}


def test_bench_reports_sane_figures_for_the_files_on_disk():
    _, _, path = artifact("mlp-pruned")
    result = bench(path, runs=20, warmup=2, batch_size=8)
    assert set(result) >= KEYS
    on_disk = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert result["file_bytes"] == on_disk
    assert (
        result["model_bytes"]
        == (path / "model.onnx").stat().st_size + (path / "weights.packed").stat().st_size
    )
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"]
    assert result["throughput_items_per_s"] > 0 and result["threads"] == 1
    assert 0 < result["peak_memory_mb"] < result["peak_rss_mb"]
    assert result["input_shapes"] == {"pixel_values": [1, 1, 28, 28]}


def test_bench_cli_prints_json(run_cli):
    _, _, path = artifact("char-gru")
    proc = run_cli(
        "bench", str(path), "--json", "--runs", "5", "--warmup", "1", "--batch-size", "4"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["task"] == "shakespeare" and result["batch_size"] == 4
    assert result["input_shapes"] == {"input_ids": [1, 128]}


def test_bench_times_several_artifacts_side_by_side(run_cli):
    from tinyai.runtime.size import artifact_bytes

    paths = [artifact(name)[2] for name in ("mlp-pruned", "char-gru")]
    proc = run_cli("bench", *map(str, paths), "--json", "--runs", "10", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    first, second = result["rows"]
    assert first["x_faster"] == 1.0 and first["bytes"] == artifact_bytes(paths[0])
    ratio = first["latency_ms"]["median"] / second["latency_ms"]["median"]
    assert abs(second["x_faster"] - ratio) < 1e-2
    assert result["rounds"] * result["runs_per_round"] == 10


def test_end_to_end_and_model_latency_come_from_the_same_runs():
    _, _, path = artifact("mlp-pruned")
    result = bench(path, runs=12, warmup=1, batch_size=4)
    assert result["latency_ms"]["runs"] == result["end_to_end_latency_ms"]["runs"] == 12
