"""The Fashion-MNIST benchmark scripts run their shipped recipes (here on small slices,
--quick) and write the rows BENCHMARKS.md reports; --phase measure re-measures the cached
runs without training them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tinyai.paths import REPO_ROOT


def script(name: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINYAI_CACHE": str(tmp / "cache")}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / name), "--quick", "--results",
         str(tmp / "results"), *args],
        capture_output=True, text=True, timeout=900, env=env, cwd=REPO_ROOT)


def test_fashion_prune_reports_each_recipe_side_by_side(tmp_path: Path) -> None:
    proc = script("fashion_prune.py", tmp_path, "--part", "fashion")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "fashion_prune_quick.json").read_text())
    rows = results["fashion"]
    assert list(rows) == ["teacher", "unstructured90", "structured50", "int8-static"]
    teacher = rows["teacher"]
    for name, row in rows.items():
        assert row["recipe"].startswith("recipes/lenet5_"), name
        assert 0 < row["accuracy"] <= 1 and row["examples"] == 200, name
        assert row["latency_ms"] > 0 and row["size_ratio"] > 0, name
    assert rows["unstructured90"]["nonzero_params"] < 0.12 * teacher["params"]
    assert rows["structured50"]["params"] < 0.3 * teacher["params"]
    assert rows["int8-static"]["artifact_bytes"] < teacher["artifact_bytes"] / 3
    # Three recipes, one seeded teacher: the same weights and accuracy in every run.
    assert results["teachers"]["agree"] and len(results["teachers"]["runs"]) == 3
    lottery = results["lottery"]
    assert [r["round"] for r in lottery["rounds"]] == [0, 1]
    assert lottery["ticket_weights_left"] < 0.85
    assert set(results["sensitivity"]["one_shot"]) == {
        "uniform per layer", "global ranking", "sensitivity allocation"}


def test_fashion_deep_compression_measures_the_cached_run_again(tmp_path: Path) -> None:
    first = script("fashion_deep_compression.py", tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "results" / "fashion_deep_compression_quick.json"
    trained = json.loads(out.read_text())
    runs = tmp_path / "cache" / "bench" / "fashion_deep_compression_quick"
    done = {p: p.stat().st_mtime_ns for p in runs.rglob("done.json")}
    again = script("fashion_deep_compression.py", tmp_path, "--phase", "measure")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("done.json")} == done  # nothing re-ran
    results = json.loads(out.read_text())
    assert results["stages"] == trained["stages"] and results["artifacts"] == trained["artifacts"]
    assert [s["stage"].split(" ")[0] for s in results["stages"]] == [
        "dense", "pruned", "quantized", "Huffman"]
    bytes_ = [s["bytes"] for s in results["stages"]]
    assert bytes_ == sorted(bytes_, reverse=True)  # every stage stores less
    art = results["artifacts"]
    assert art["clustered"]["bytes"] == sum(art["clustered"]["files"].values())
    assert set(art["clustered"]["files"]) == {"model.onnx", "weights.packed", "manifest.json"}
    assert results["artifact_ratio"] > 20
    assert {x["codec"] for x in results["layers"]} >= {"huffman"}
    assert max(x["distinct"] for x in results["layers"] if x["type"] == "Linear") <= 16
    assert {t["name"] for t in results["targets"]} == {"max_bytes", "min_teacher_fraction"}
