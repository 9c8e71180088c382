"""The single-verb commands tell the truth and keep what they were given (issue #16), through
the real CLI on small slices: a dry run and `summary` agree, a task the model was not made
for is refused, an artifact made from the user's data is re-scored on that data, and every
command prints figures that match the files it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyai.models import (
    FashionCNN,
    FashionCNNConfig,
    KwsDSCNN,
    KwsDSCNNConfig,
    LeNet5,
    LeNet5Config,
    LeNet300100,
    LeNet300100Config,
)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyai", *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("model", [
    FashionCNN(FashionCNNConfig(channels=(8, 16))), LeNet5(LeNet5Config()),
    LeNet300100(LeNet300100Config()), KwsDSCNN(KwsDSCNNConfig(channels=(16, 16, 16))),
], ids=["fashion-cnn", "lenet5", "lenet-300-100", "kws-dscnn"])
def test_a_dry_run_counts_what_summary_counts(model) -> None:
    from tinyai.cli.prune import _structured
    from tinyai.measure.summary import summary

    inputs = model.example_inputs()
    plan = _structured(model, inputs, 0.5, "l2", None, [])["plan"]
    table = summary(model, inputs)
    assert plan["totals"]["params_before"] == table.params
    assert plan["totals"]["macs_before"] == table.macs


def test_minilm_dry_run_and_summary_agree_through_the_cli() -> None:
    dry = cli("prune", "minilm-l6", "--ratio", "0.25", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr[-2000:]
    summary = cli("summary", "minilm-l6", "--json")
    assert summary.returncode == 0, summary.stderr[-2000:]
    totals = json.loads(dry.stdout)["plan"]["totals"]
    whole = json.loads(summary.stdout)["total"]
    assert (totals["params_before"], totals["macs_before"]) == (whole["params"], whole["macs"])


def _digit_folders(root: Path, per_class: int = 40) -> Path:
    """Three Fashion-MNIST classes saved as PNG folders named like a user's own labels."""
    from PIL import Image

    from tinyai.data.fashion_mnist import load_fashion_mnist

    data = load_fashion_mnist("train")
    for label, name in ((0, "zero"), (1, "one"), (2, "two")):
        folder = root / name
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(data.labels == label)[:per_class]):
            Image.fromarray(data.images[index]).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def user_model(tmp_path_factory) -> tuple[Path, Path]:
    """A LeNet-300-100 trained on the user's 3-class image folders, and its artifact."""
    tmp = tmp_path_factory.mktemp("user")
    images = _digit_folders(tmp / "images")
    init = cli("init", "lenet-300-100", str(tmp / "init"), "--data", f"train={images}",
               "--config", "hidden=32,16")
    assert init.returncode == 0, init.stderr[-2000:]
    model = tmp / "model"
    run = cli("finetune", str(tmp / "init"), "--data", f"train={images}", "--holdout", "0.25",
              "--out", str(model), "--steps", "20", "--lr", "0.003", "--no-bench")
    assert run.returncode == 0, run.stderr[-2000:]
    artifact = tmp / "artifact"
    run = cli("export", str(model), str(artifact), "--data", f"train={images}", "--holdout",
              "0.25", "--no-bench")
    assert run.returncode == 0, run.stderr[-2000:]
    return model, artifact


def test_export_and_evaluate_refuse_a_task_the_model_was_not_made_for(user_model,
                                                                      tmp_path: Path) -> None:
    model, artifact = user_model
    export = cli("export", str(model), str(tmp_path / "wrong"), "--task", "fashion-mnist")
    assert export.returncode == 2
    assert "outputs 3 classes and the task fashion-mnist has 10" in export.stderr
    assert not (tmp_path / "wrong").exists()
    evaluate = cli("evaluate", str(artifact), "--task", "fashion-mnist")
    assert evaluate.returncode == 2 and "score it on the task it was made for" in evaluate.stderr
    text = cli("evaluate", str(artifact), "--task", "sst2")
    assert text.returncode == 2 and text.stderr.count("\n") == 1


def test_an_artifact_from_user_data_is_rescored_on_that_data(user_model) -> None:
    _, artifact = user_model
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["label_names"] == ["one", "two", "zero"]
    assert manifest["task_spec"]["holdout"] == 0.25
    run = cli("evaluate", str(artifact), "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["examples"] == 30 and result["split"] == "test"  # the held-out quarter


def test_inspect_shows_what_the_artifact_holds(user_model) -> None:
    from tinyai.runtime.size import artifact_bytes

    _, artifact = user_model
    run = cli("inspect", str(artifact), "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    info = json.loads(run.stdout)
    assert [h["technique"] for h in info["history"]] == ["build", "finetune", "export"]
    assert info["bytes"] == artifact_bytes(artifact)
    assert info["integrity"].startswith("intact")
    text = cli("summary", str(artifact))  # summary on an artifact shows the same
    assert text.returncode == 0 and "history (3 steps)" in text.stdout
