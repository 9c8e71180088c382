"""`tinyai prune` as a real subprocess: dry run changes nothing, --out saves a smaller model."""

from __future__ import annotations

import json
import subprocess
import sys


def _prune(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinyai", "prune", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dry_run_then_prune_and_save(tmp_path) -> None:
    from tinyai.models import LeNet300100, LeNet300100Config, load_model, save_model
    from tinyai.prune import sparsity

    src = save_model(LeNet300100(LeNet300100Config(hidden=(64, 32))), tmp_path / "mlp")
    before = (src / "model.safetensors").read_bytes()

    dry = _prune(str(src), "--ratio", "0.5", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["plan"]["totals"]["params_after"] < report["plan"]["totals"]["params_before"]
    assert (src / "model.safetensors").read_bytes() == before  # nothing changed

    sparse = _prune(
        str(src), "fashion-mnist", "--sparsity", "0.9", "--scope", "global",
        "--out", str(tmp_path / "sparse"), "--eval-limit", "200", "--no-bench",
    )
    assert sparse.returncode == 0, sparse.stderr[-2000:]
    # measured before and after on the artifacts, and told how to recover
    assert "(before: " in sparse.stdout and "pruned without fine-tuning" in sparse.stdout
    assert sparsity(load_model(tmp_path / "sparse"))["__total__"] >= 0.9 - 1e-3
    assert (tmp_path / "sparse" / "model.safetensors").stat().st_size < len(before) / 5

    bad = _prune(str(src), "--sparsity", "0.9", "--ratio", "0.5", "--dry-run")
    assert bad.returncode == 2 and "exactly one of" in bad.stderr
