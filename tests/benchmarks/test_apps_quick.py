"""benchmarks/kws.py and benchmarks/charlm.py --quick, end to end on slices of the real data:
the shipped recipe runs through the runner, and the figures the scripts add come out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick(name: str, tmp_path: Path) -> dict:
    env = {**os.environ, "TINYAI_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick",
                           "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "cache" / "bench" / f"{name}_quick" / "metrics.json").is_file()
    return json.loads((tmp_path / f"{name}-quick.json").read_text())


def test_kws_quick(tmp_path: Path) -> None:
    result = quick("kws", tmp_path)
    rows = result["rows"]
    assert set(rows) == {"teacher", "student", "int8"}
    assert result["targets"]["bytes"] == rows["int8"]["artifact_bytes"] <= 50_000
    assert rows["teacher"]["artifact_bytes"] > rows["student"]["artifact_bytes"]
    assert all(r["latency_per_clip"]["median_ms"] > 0 for r in rows.values())
    stream = result["streaming"]
    assert stream["keywords"] == 10 and 0 <= stream["hits"] <= 10
    assert stream["false_alarms_per_hour"] == stream["false_alarms"] / (40 / 3600)


def test_charlm_quick(tmp_path: Path) -> None:
    result = quick("charlm", tmp_path)
    rows = result["rows"]
    assert set(rows) == {"teacher", "student", "int8"}
    for r in rows.values():
        assert 0 <= r["top1"] <= r["top3"] <= 1
        assert abs(r["val_nats_per_char"] - r["bits_per_char"] * result["nats_per_bit"]) < 1e-6
        assert 0 <= r["keystroke_savings"]["keystroke_savings"] <= 1
        assert r["ms_per_char"]["stateful"] > 0 and r["ms_per_char"]["windowed"] > 0
    assert result["student_over_teacher_bytes"] < 0.1
    assert result["nanogpt_cpu_published"]["val_loss_nats"] == 1.88
