"""The README's command-line walk on small slices of SST-2, through the real CLI: each
command keeps the tokenizer and the history, and the figures it prints are the files' and
`evaluate`'s."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

SLICE = ("--max-length", "32", "--limit", "64", "--eval-limit", "48", "--no-bench")


def cli(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "tinyai", *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def printed(proc: subprocess.CompletedProcess) -> tuple[float, int]:
    """(accuracy, artifact bytes) from a command's report."""
    text = " ".join(proc.stdout.split())  # rich may wrap lines
    accuracy = float(re.search(r"accuracy ([0-9.]+)", text).group(1))  # type: ignore[union-attr]
    size = int(re.search(r"artifact: ([0-9,]+) bytes", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    return accuracy, size


def test_the_readme_walk_on_a_slice(tmp_path: Path) -> None:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime.size import artifact_bytes

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    pruned, final = tmp_path / "student-pruned", tmp_path / "student-int8"
    cli("finetune", "minilm-l6", "sst2", "--out", str(teacher), "--steps", "2",
        "--batch-size", "8", "--freeze-trunk", *SLICE)
    cli("distill", str(teacher), "sst2", "--out", str(student), "--layers", "0",
        "--hidden-size", "128", "--vocab-size", "3000", "--augment", "1", "--steps", "2",
        "--batch-size", "8", *SLICE)
    dry = cli("prune", str(student), "sst2", "--ratio", "0.25", "--target", "heads",
              "--target", "ffn", "--dry-run", "--json")
    assert json.loads(dry.stdout)["plan"]["totals"]["params_after"] > 0
    cli("prune", str(student), "sst2", "--ratio", "0.5", "--target", "ffn", "--out",
        str(pruned), "--steps", "2", "--batch-size", "8", *SLICE)
    quantized = cli("quantize", str(pruned), str(final), "--task", "sst2", "--scheme",
                    "int8-static", "--embedding-bits", "4", "--calibration", "32", *SLICE)
    accuracy, size = printed(quantized)
    assert size == artifact_bytes(final)
    from tinyai.tasks.spec import TaskSpec, build_task

    task = build_task(TaskSpec(name="sst2", max_length=32), tokenizer=str(final / "tokenizer"))
    again = evaluate(final, task, limit=48)["metrics"]["accuracy"]
    assert abs(again - accuracy) < 1e-4  # what it printed is what evaluate finds
    info = json.loads(cli("inspect", str(final), "--json").stdout)
    assert [s["technique"] for s in info["history"]] == [
        "load", "finetune", "distill", "structured-pruning", "int8-static"]
    vocab = json.loads((final / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) < 3001  # the student's reduced tokenizer travelled through every step
    scored = json.loads(cli("evaluate", str(final), "--limit", "48", "--json").stdout)
    assert abs(scored["metrics"]["accuracy"] - accuracy) < 1e-4
    prediction = cli("predict", str(final), "a gripping, funny film", "--json")
    assert json.loads(prediction.stdout)[0]["label"] in ("negative", "positive")
