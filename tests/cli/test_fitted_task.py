"""Through the real CLI (issue #16): a model keeps the task it was fitted to, so `export` and
`evaluate` refuse, in one line and with exit status 2, a task whose label names differ even
when the label count matches; and `inspect` counts zeros per dtype (int8 codes at their
zero point) and lists every file the artifact's byte count adds up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyai", *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})


def image_folders(root: Path, per_class: int = 3) -> Path:
    """root/<digit name>/<i>.png, 28x28 grey noise: a digits-like task, untrained here."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in DIGITS:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                root / label / f"{i}.png")
    return root


def test_export_and_evaluate_refuse_fashion_mnist_for_a_digits_model(tmp_path: Path) -> None:
    digits = image_folders(tmp_path / "digits")
    model, out = tmp_path / "model", tmp_path / "artifact"
    init = cli("init", "fashion-cnn", str(model), "--data", f"train={digits}",
               "--config", "channels=8,16")
    assert init.returncode == 0, init.stderr[-2000:]
    for refused in (cli("export", str(model), str(out), "--task", "fashion-mnist", "--no-bench"),
                    cli("evaluate", str(model), "--task", "fashion-mnist")):
        assert refused.returncode == 2, refused.stderr[-2000:]
        error = refused.stderr
        assert error.count("\n") == 1 and error.startswith("error: ")  # one line
        assert "fitted to your data" in error and "the task fashion-mnist has labels" in error
        assert f"give --data train={digits}, or fine-tune it on this task first" in error
    assert not out.exists()
    right = cli("export", str(model), str(out), "--data", f"train={digits}", "--no-bench")
    assert right.returncode == 0, right.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label_names"] == sorted(DIGITS)
    # No task and no --data: the task the model records, the user's own folder here.
    recorded = cli("export", str(model), str(tmp_path / "again"), "--no-bench")
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert again["label_names"] == sorted(DIGITS)
    assert again["task_spec"]["data"]["train"] == str(digits)


def test_evaluate_refuses_sst2_for_a_text_model_fitted_to_neg_pos(tmp_path: Path) -> None:
    from user_archs import save_neg_pos_text_model

    model, table = save_neg_pos_text_model(tmp_path)
    refused = cli("evaluate", str(model), "--task", "sst2")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert refused.stderr.count("\n") == 1
    assert "labels [neg, pos] and the task sst2 has labels [negative, positive]" in refused.stderr
    scored = cli("evaluate", str(model), "--data", f"train={table}", "--json")
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert json.loads(scored.stdout)["examples"] == 8


@pytest.fixture(scope="module")
def pruned_int8(tmp_path_factory) -> Path:
    """A fashion-cnn with half of every weight zeroed (unstructured, by magnitude), quantized
    to static int8 and exported by `tinyai quantize`."""
    import torch

    from tinyai.models import FashionCNN, FashionCNNConfig, save_model
    from tinyai.prune import MagnitudePruning, make_permanent, prune_

    tmp = tmp_path_factory.mktemp("inspect")
    torch.manual_seed(0)
    model = FashionCNN(FashionCNNConfig(channels=(8, 16)))
    prune_(model, MagnitudePruning(sparsity=0.5))
    make_permanent(model)
    save_model(model.eval(), tmp / "pruned", task="fashion-mnist")
    artifact = tmp / "artifact"
    run = cli("quantize", str(tmp / "pruned"), str(artifact), "--task", "fashion-mnist",
              "--scheme", "int8-static", "--calibration", "32", "--eval-limit", "32",
              "--no-bench")
    assert run.returncode == 0, run.stderr[-2000:]
    return artifact


def test_inspect_counts_int8_zeros_and_lists_every_file(pruned_int8: Path) -> None:
    from tinyai.runtime.size import artifact_bytes

    run = cli("inspect", str(pruned_int8), "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    info = json.loads(run.stdout)
    int8 = info["zero_weights"]["int8"]
    assert int8["weights"] > 1000 and 0.48 <= int8["fraction"] <= 0.55, int8
    assert "manifest.json" in info["files"] and "model.onnx" in info["files"]
    assert sum(info["files"].values()) == info["bytes"] == artifact_bytes(pruned_int8)
    text = cli("inspect", str(pruned_int8))
    assert text.returncode == 0, text.stderr[-2000:]
    assert f"int8 {int8['fraction']:.3f}" in text.stdout
    assert f"manifest.json: {info['files']['manifest.json']:,}" in text.stdout
