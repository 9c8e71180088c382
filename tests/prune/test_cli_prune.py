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


def test_a_dry_run_takes_an_architecture_name_as_summary_does() -> None:
    """A plan needs no weights: `tinyai prune ARCH --dry-run` counts what `tinyai summary
    ARCH` counts, and torch-pruning's warnings stay out of the output."""
    summary = subprocess.run([sys.executable, "-m", "tinyai", "summary", "char-transformer",
                              "--json"], capture_output=True, text=True, timeout=300)
    assert summary.returncode == 0, summary.stderr
    total = json.loads(summary.stdout)["total"]

    dry = _prune("char-transformer", "--ratio", "0.5", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert "warning" not in dry.stderr.lower(), dry.stderr
    totals = json.loads(dry.stdout)["plan"]["totals"]
    assert totals["macs_before"] == total["macs"] > 0
    assert totals["params_before"] == total["params"] > totals["params_after"]
    # the MLPs shrink; q, k, v and the projection after the heads stay whole
    pruned = {op["module"] for op in json.loads(dry.stdout)["plan"]["ops"]}
    assert pruned == {f"blocks.{i}.mlp.{j}" for i in range(4) for j in (0, 2)}

    table = _prune("char-transformer", "--ratio", "0.5", "--dry-run")
    assert table.returncode == 0 and "warning" not in table.stderr.lower(), table.stderr
    total_row = next(line for line in table.stdout.splitlines() if "TOTAL" in line)
    assert f"{total['macs']:,}" in total_row

    heads = _prune("char-transformer", "--ratio", "0.5", "--target", "heads", "--dry-run")
    assert heads.returncode == 2 and "packs q, k and v into one Linear" in heads.stderr
    assert len(heads.stderr.strip().splitlines()) == 1

    sparse = _prune("char-transformer", "--sparsity", "0.5", "--dry-run", "--json")
    assert sparse.returncode == 0 and "warning" not in sparse.stderr.lower(), sparse.stderr
    weights, nonzero = (int(v.replace(",", "")) for v in json.loads(sparse.stdout)["rows"][-1][2:4])
    assert 0 < nonzero <= 0.51 * weights

    untrained = _prune("char-transformer", "shakespeare", "--ratio", "0.5", "--out", "x")
    assert untrained.returncode == 2 and "without trained weights: add --dry-run" in \
        untrained.stderr
