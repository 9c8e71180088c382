"""The README's command-line walk on small slices of SST-2, through the real CLI: each
command keeps the tokenizer and the history, and the figures it prints are the files' and
`evaluate`'s: every step prints its task's metric as its run measured it, and bytes equal to
`artifact_bytes` of the artifact it wrote (for the model-writing steps, the artifact their
run measured, in its work folder)."""

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


def measured(out: Path, technique: str) -> tuple[Path, float]:
    """The artifact the command that wrote `out` measured, and its metric, from its run's
    metrics.json (the run lives in the command's work folder)."""
    from tinyai.cli.verbs import work_dir

    work = work_dir(out, technique)
    data = json.loads((work / "metrics.json").read_text())
    final = next(s for s in data["stages"] if s["index"] == data["final_stage"])
    return work / final["artifact"], float(final["measure"]["metric"])


def check_printed(proc: subprocess.CompletedProcess, out: Path, technique: str) -> float:
    """The step printed its metric and its artifact's bytes, both as measured on the files."""
    from tinyai.runtime.size import artifact_bytes

    accuracy, size = printed(proc)
    artifact, metric = measured(out, technique)
    assert size == artifact_bytes(artifact), (technique, size)
    assert abs(accuracy - metric) < 6e-5, (technique, accuracy, metric)  # printed to 4 places
    return accuracy


def test_the_readme_walk_on_a_slice(tmp_path: Path) -> None:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime.size import artifact_bytes

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    pruned, final = tmp_path / "student-pruned", tmp_path / "student-int8"
    finetuned = cli("finetune", "minilm-l6", "sst2", "--out", str(teacher), "--steps", "2",
                    "--batch-size", "8", "--freeze-trunk", *SLICE)
    check_printed(finetuned, teacher, "finetune")
    distilled = cli("distill", str(teacher), "sst2", "--out", str(student), "--layers", "0",
                    "--hidden-size", "128", "--vocab-size", "3000", "--augment", "1",
                    "--steps", "2", "--batch-size", "8", *SLICE)
    check_printed(distilled, student, "distill")
    dry = cli("prune", str(student), "sst2", "--ratio", "0.25", "--target", "heads",
              "--target", "ffn", "--dry-run", "--json")
    assert json.loads(dry.stdout)["plan"]["totals"]["params_after"] > 0
    pruning = cli("prune", str(student), "sst2", "--ratio", "0.5", "--target", "ffn", "--out",
                  str(pruned), "--steps", "2", "--batch-size", "8", *SLICE)
    check_printed(pruning, pruned, "structured-pruning")
    quantized = cli("quantize", str(pruned), str(final), "--task", "sst2", "--scheme",
                    "int8-static", "--embedding-bits", "4", "--calibration", "32", *SLICE)
    accuracy = check_printed(quantized, final, "int8-static")
    assert printed(quantized)[1] == artifact_bytes(final)  # the copy it placed at FINAL
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
