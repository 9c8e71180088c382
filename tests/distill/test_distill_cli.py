"""`tinyai finetune` then `tinyai distill` as real subprocesses on a slice of SST-2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyai", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_finetune_then_distill_with_a_reduced_vocabulary(tmp_path: Path) -> None:
    teacher = tmp_path / "teacher"
    run = cli("finetune", "minilm-l6", "sst2", "--out", str(teacher), "--steps", "2",
              "--batch-size", "8", "--max-length", "32", "--limit", "64", "--freeze-trunk",
              "--eval-limit", "64", "--no-bench")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (teacher / "model.safetensors").is_file()
    student = tmp_path / "student"
    run = cli("distill", str(teacher), "sst2", "--out", str(student), "--layers", "0",
              "--hidden-size", "128", "--vocab-size", "3000", "--steps", "2", "--batch-size", "8",
              "--max-length", "32", "--limit", "64", "--augment", "1", "--eval-limit", "64",
              "--no-bench")
    assert run.returncode == 0, run.stderr[-2000:]
    config = json.loads((student / "encoder" / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (1, 128)
    # the 64 training sentences use fewer than 3000 sub-words: all of them are kept
    assert 300 < config["vocab_size"] < 3000
    vocab = json.loads((student / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == config["vocab_size"]  # the student carries its reduced tokenizer

    from tinyai.models import load_model

    model = load_model(student)
    assert model.classifier.in_features == 128
