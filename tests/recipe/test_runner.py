"""`tinyai compress` end to end on small slices of real data, through the real CLI: image,
text and audio tasks, built-in and user-file forms; resume after a kill; the single-verb CLI
and a recipe resolving to the same config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tinyai.recipe.records import read_metrics


def compress(recipe: dict[str, Any], tmp: Path, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), *args],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


def fashion_recipe(**changes: Any) -> dict[str, Any]:
    recipe = {
        "version": 1,
        "name": "fashion-tiny",
        "task": {"name": "fashion-mnist", "limit": {"train": 1024, "test": 300}},
        "teacher": {"arch": "lenet5", "config": {"channels": [8, 16], "hidden": 32}},
        "stages": [
            {"finetune": {}, "train": {"steps": 40, "lr": 3e-3, "batch_size": 64}},
            {"structured-pruning": {"ratio": 0.5, "targets": ["channels"]},
             "train": {"steps": 10, "lr": 1e-3, "batch_size": 64}},
            # prune while learning from the teacher's soft targets (the teacher: stage 1's model)
            {"magnitude-pruning": {"sparsity": 0.5, "schedule": {"end_step": 6, "frequency": 2}},
             "train": {"steps": 8, "lr": 1e-3, "batch_size": 64},
             "teacher": {"temperature": 4.0, "alpha": 0.5}},
            {"export": {}},
        ],
        "targets": {"max_bytes": 10_000_000, "min_teacher_fraction": 0.5},
        "measure": {"bench_runs": 5},
    }
    recipe.update(changes)
    return recipe


def test_compress_an_image_task_measures_every_stage_on_its_artifact(tmp_path: Path) -> None:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime.size import artifact_bytes

    run = tmp_path / "run"
    proc = compress(fashion_recipe(), tmp_path, "-o", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run)
    assert [s.technique for s in metrics.stages] == [
        "build", "finetune", "structured-pruning", "magnitude-pruning", "export"]
    assert metrics.stages[0].measure is None  # fresh weights: nothing to measure yet
    assert metrics.teacher_stage == 1 and metrics.final_stage == 4
    teacher, final = metrics.teacher(), metrics.final()
    assert teacher is not None and final is not None
    assert teacher.measure is not None and final.measure is not None
    assert teacher.measure.metric > 0.6  # it learned something in 40 steps
    assert final.measure.params < teacher.measure.params  # channels were removed
    assert final.measure.nonzero_params < 0.6 * final.measure.params  # and half zeroed
    # The figures are the artifact's: its metric as evaluate() finds it, its bytes on disk.
    artifact = run / "artifact"
    again = evaluate(artifact, "fashion-mnist", limit=300)["metrics"]["accuracy"]
    assert final.measure.metric == pytest.approx(again)
    assert final.measure.bytes == artifact_bytes(artifact)
    assert len(final.train_losses) == 0 and len(metrics.stages[1].train_losses) == 40
    assert len(metrics.stages[3].train_losses) == 8
    assert [t.met for t in metrics.targets] == [True, True]
    resolved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert resolved["stages"][0]["train"]["warmup"] == 0.1  # every default written out
    manifest = json.loads((artifact / "manifest.json").read_text())
    history = manifest["history"]
    assert [h["technique"] for h in history] == [s.technique for s in metrics.stages]
    # The measured figures are sealed into the artifact and the model's history as well.
    assert history[-1]["metrics"]["metric"] == pytest.approx(final.measure.metric)
    assert "latency_ms" not in history[-1]["metrics"]  # no clock readings in the manifest
    assert history[-1]["metrics"]["bytes"] == final.measure.bytes == artifact_bytes(artifact)
    assert manifest["metrics"]["metrics"]["accuracy"] == pytest.approx(final.measure.metric)
    model_history = json.loads((run / final.model_dir / "history.json").read_text())
    assert model_history[-1]["metrics"]["metric"] == pytest.approx(final.measure.metric)
    assert str(tmp_path) not in json.dumps(history)  # the recipe's config, not checkpoint paths
    assert "final artifact" in proc.stdout and "target max_bytes" in proc.stdout


def test_a_run_directory_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    proc = compress(fashion_recipe(), tmp_path, "-o", str(run))
    assert proc.returncode == 2 and "not a tinyai run directory" in proc.stderr
    assert (run / "notes.txt").read_text() == "mine"


def test_dry_run_prints_the_plan_without_training(tmp_path: Path) -> None:
    proc = compress(fashion_recipe(), tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "structured-pruning" in proc.stdout and "est. bytes" in proc.stdout
    assert not (tmp_path / "run").exists()


def _kill_when(proc: subprocess.Popen, ready: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "the run never reached the point to kill it at"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_after_a_kill_inside_training_ends_where_an_uninterrupted_run_does(
        tmp_path: Path) -> None:
    recipe = fashion_recipe(stages=[
        {"finetune": {}, "train": {"steps": 120, "lr": 3e-3, "batch_size": 64}},
        {"magnitude-pruning": {"sparsity": 0.5}},
    ], measure={"latency": False})
    straight = tmp_path / "straight"
    assert compress(recipe, tmp_path, "-o", str(straight)).returncode == 0
    killed = tmp_path / "killed"
    path = tmp_path / "recipe.yaml"
    env = {**os.environ, "TINYAI_CHECKPOINT_SECONDS": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "tinyai", "compress", str(path), "-o",
                             str(killed)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _kill_when(proc, killed / "stages" / "01-finetune" / "checkpoints" / "checkpoint.json")
    info = json.loads((killed / "stages/01-finetune/checkpoints/checkpoint.json").read_text())
    assert 0 < info["step"] < 120  # killed in the middle of training
    resumed = subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), "-o",
                              str(killed), "--resume"], env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = read_metrics(straight), read_metrics(killed)
    assert [s.measure.metric for s in a.stages[1:]] == [s.measure.metric for s in b.stages[1:]]
    model_a = (straight / "stages/02-magnitude-pruning/model/model.safetensors").read_bytes()
    model_b = (killed / "stages/02-magnitude-pruning/model/model.safetensors").read_bytes()
    assert model_a == model_b  # the same weights, bit for bit (and the same file)
    onnx_a = (straight / "artifact" / "model.onnx").read_bytes()
    assert onnx_a == (killed / "artifact" / "model.onnx").read_bytes()


def test_resume_refuses_a_changed_recipe(tmp_path: Path) -> None:
    recipe = fashion_recipe(stages=[{"finetune": {}, "train": {"steps": 5}}],
                            measure={"latency": False})
    run = tmp_path / "run"
    assert compress(recipe, tmp_path, "-o", str(run)).returncode == 0
    recipe["stages"][0]["train"]["steps"] = 6
    proc = compress(recipe, tmp_path, "-o", str(run), "--resume")
    assert proc.returncode == 2
    assert "stages[0].train.steps differs" in proc.stderr


def test_resume_takes_new_targets_and_checks_them_on_the_finished_run(tmp_path: Path) -> None:
    # Targets are checked on the final artifact, not trained toward: changing them must not
    # cost a re-run. min_size_ratio is the teacher's artifact bytes over the final one's.
    recipe = fashion_recipe(stages=[{"finetune": {}, "train": {"steps": 5}}, {"int8-dynamic": {}}],
                            measure={"latency": False})
    run = tmp_path / "run"
    assert compress(recipe, tmp_path, "-o", str(run)).returncode == 0
    recipe["targets"] = {"min_size_ratio": 2.0}
    proc = compress(recipe, tmp_path, "-o", str(run), "--resume")
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(run)
    teacher, final = metrics.teacher(), metrics.final()
    assert teacher is not None and final is not None and teacher.measure and final.measure
    ratio = teacher.measure.bytes / final.measure.bytes
    assert [(t.name, t.limit, t.met) for t in metrics.targets] == [("min_size_ratio", 2.0, True)]
    assert metrics.targets[0].value == pytest.approx(ratio) and ratio > 2.0
    assert f"target min_size_ratio 2: {ratio:,.4g}" in proc.stdout
    assert yaml.safe_load((run / "recipe.yaml").read_text())["targets"]["min_size_ratio"] == 2.0


def _image_folders(root: Path, per_class: int) -> Path:
    """Fashion-MNIST test images of three classes as PNG folders: the user-file form."""
    from PIL import Image

    from tinyai.data.fashion_mnist import load_fashion_mnist

    data = load_fashion_mnist("test")
    for label, name in ((0, "tshirt"), (1, "trouser"), (7, "sneaker")):
        folder = root / name
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(data.labels == label)[:per_class]):
            Image.fromarray(data.images[index]).save(folder / f"{i}.png")
    return root


def test_compress_user_image_folders_with_a_held_out_fraction(tmp_path: Path) -> None:
    images = _image_folders(tmp_path / "images", per_class=60)
    recipe = {
        "version": 1,
        "task": {"data": {"train": str(images)}, "holdout": 0.25},
        "teacher": {"arch": "lenet-300-100", "config": {"hidden": [32, 16]}},
        "stages": [{"finetune": {}, "train": {"steps": 30, "lr": 3e-3, "batch_size": 32}},
                   {"int8-dynamic": {}}],
        "measure": {"bench_runs": 5},
    }
    run = tmp_path / "run"
    proc = compress(recipe, tmp_path, "-o", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run)
    assert metrics.task.kind == "image-classification"
    assert metrics.task.label_names == ["sneaker", "trouser", "tshirt"]
    final = metrics.final()
    assert final is not None and final.measure is not None
    assert final.measure.examples == 45 and final.measure.metric > 0.7


def _tiny_text_teacher(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT classifier with the packaged tokenizer: a fast text teacher."""
    import torch
    from transformers import BertConfig, BertModel

    from tinyai.models import TextClassifier, resolve, save_model

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64))
    save_model(TextClassifier(encoder, num_labels=2), folder, tokenizer=resolve("minilm-l6"))
    return folder


def test_compress_a_user_tsv_text_task_with_a_student(tmp_path: Path) -> None:
    from tinyai.data.glue import load_glue

    train, dev = load_glue("sst2", "train"), load_glue("sst2", "dev")
    for name, data, n in (("train.tsv", train, 400), ("test.tsv", dev, 120)):
        rows = ["sentence\tsentiment"] + [
            f"{data.texts[i]}\t{'pos' if data.labels[i] else 'neg'}" for i in range(n)]
        (tmp_path / name).write_text("\n".join(rows) + "\n")
    recipe = {
        "version": 1,
        "task": {"data": {"train": "train.tsv", "test": "test.tsv"}, "max_length": 32,
                 "text_column": "sentence", "label_column": "sentiment"},
        "teacher": str(_tiny_text_teacher(tmp_path / "teacher")),
        "student": {"from_teacher": {"layers": [1], "vocab_size": 1500}},
        "stages": [
            {"finetune": {}, "train": {"steps": 25, "lr": 3e-3, "batch_size": 32}},
            {"distill": {"augment": {"copies": 1}},
             "train": {"steps": 25, "lr": 3e-3, "batch_size": 32}},
        ],
        "measure": {"bench_runs": 5},
    }
    run = tmp_path / "run"
    proc = compress(recipe, tmp_path, "-o", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run)
    assert metrics.task.label_names == ["neg", "pos"]
    teacher, final = metrics.teacher(), metrics.final()
    assert teacher is not None and final is not None
    assert final.measure.bytes < teacher.measure.bytes / 4  # 1 layer, 1.5k-row vocabulary
    vocab = json.loads((run / "artifact" / "tokenizer" / "tokenizer.json").read_text())
    assert len(vocab["model"]["vocab"]) == 1500  # the student ships its own tokenizer
    manifest = json.loads((run / "artifact" / "manifest.json").read_text())
    assert manifest["task_spec"]["data"]["train"] == str(tmp_path / "train.tsv")


def test_compress_speech_commands(tmp_path: Path) -> None:
    recipe = {
        "version": 1,
        "task": {"name": "speech-commands", "limit": {"train": 300, "test": 120}},
        "teacher": {"arch": "kws-dscnn", "config": {"channels": [16, 16, 16]}},
        "stages": [{"finetune": {}, "train": {"steps": 20, "lr": 3e-3, "batch_size": 32}},
                   {"magnitude-pruning": {"sparsity": 0.5}}],
        "measure": {"bench_runs": 5},
    }
    run = tmp_path / "run"
    proc = compress(recipe, tmp_path, "-o", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run)
    assert metrics.task.kind == "audio-classification"
    final = metrics.final()
    assert final is not None and final.measure.examples == 120


def test_the_cli_and_a_recipe_resolve_to_the_same_config(tmp_path: Path) -> None:
    """`tinyai finetune ... --steps 4 --lr 0.002` is the one-stage recipe with those keys."""
    from tinyai.history import read_history
    from tinyai.recipe.schema import parse_recipe

    out = tmp_path / "model"
    proc = subprocess.run(
        [sys.executable, "-m", "tinyai", "init", "lenet-300-100", str(tmp_path / "init"),
         "--task", "fashion-mnist", "--config", "hidden=16,8"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run(
        [sys.executable, "-m", "tinyai", "finetune", str(tmp_path / "init"), "fashion-mnist",
         "--out", str(out), "--steps", "4", "--lr", "0.002", "--freeze-layers", "0",
         "--limit", "256", "--eval-limit", "64", "--no-bench"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "measured on the exported" in proc.stdout
    from_cli = read_history(out)[-1].config
    recipe = parse_recipe({"version": 1, "task": "fashion-mnist", "teacher": "x",
                           "stages": [{"finetune": {"freeze_layers": 0},
                                       "train": {"steps": 4, "lr": 0.002}}]})
    expected = recipe.stages[0].config.to_dict()
    for key in ("checkpoint_dir", "checkpoint_seconds", "resume"):  # the runner's own
        from_cli["train"].pop(key)
        expected["train"].pop(key)
    assert from_cli == expected


def test_resume_after_a_finished_quantize_stage_gives_the_same_final_metrics(
        tmp_path: Path) -> None:
    """Killed once int8-static is done: resuming loads the quantized model from its saved
    form (it must round-trip) and ends where an uninterrupted run does."""
    recipe = fashion_recipe(stages=[
        {"finetune": {}, "train": {"steps": 30, "lr": 3e-3, "batch_size": 64}},
        {"int8-static": {}, "calibration": 128},
        {"export": {}},
    ], measure={"latency": False})
    straight = tmp_path / "straight"
    assert compress(recipe, tmp_path, "-o", str(straight)).returncode == 0
    killed = tmp_path / "killed"
    path = tmp_path / "recipe.yaml"
    env = {**os.environ, "TINYAI_CHECKPOINT_SECONDS": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "tinyai", "compress", str(path), "-o",
                             str(killed)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _kill_when(proc, killed / "stages" / "02-int8-static" / "done.json")
    resumed = subprocess.run([sys.executable, "-m", "tinyai", "compress", str(path), "-o",
                              str(killed), "--resume"], env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "int8-static: finished earlier, loaded" in resumed.stderr
    a, b = read_metrics(straight), read_metrics(killed)
    assert [s.measure.metric for s in a.stages[1:]] == [s.measure.metric for s in b.stages[1:]]
    onnx_a = (straight / "artifact" / "model.onnx").read_bytes()
    assert onnx_a == (killed / "artifact" / "model.onnx").read_bytes()


def test_compress_user_wav_folders(tmp_path: Path) -> None:
    """Speech Commands clips written as the user's own class folders of wav files."""
    import wave

    from tinyai.data.speech_commands import load_speech_commands

    data = load_speech_commands("val")
    root = tmp_path / "wavs"
    for label in (1, 2, 3):
        folder = root / data.label_names[label]
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(data.labels == label)[:25]):
            with wave.open(str(folder / f"{i}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(16000)
                out.writeframes((data.waveforms[index] * 32767).astype("<i2").tobytes())
    recipe = {
        "version": 1,
        "task": {"data": {"train": str(root)}, "holdout": 0.2},
        "teacher": {"arch": "kws-dscnn", "config": {"channels": [16, 16]}},
        "stages": [{"finetune": {}, "train": {"steps": 15, "lr": 3e-3, "batch_size": 16}},
                   {"int8-dynamic": {}}],
        "measure": {"bench_runs": 5},
    }
    run = tmp_path / "run"
    proc = compress(recipe, tmp_path, "-o", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run)
    assert metrics.task.kind == "audio-classification"
    final = metrics.final()
    assert final is not None and final.measure.examples == 15


def test_resume_reads_a_setting_added_since_the_run_started_as_its_default(
        tmp_path: Path) -> None:
    # A run started before `full_range_weights` existed stored its int8 stage without it; the
    # same recipe must still resume it, and a recipe that now sets it differently must not.
    import yaml

    from tinyai.errors import ConfigError
    from tinyai.recipe.runner import _same_recipe
    from tinyai.recipe.schema import parse_recipe

    recipe = fashion_recipe(stages=[{"int8-dynamic": {}}])
    stored = yaml.safe_load(parse_recipe(recipe).to_yaml())
    assert stored["stages"][0]["int8-dynamic"].pop("full_range_weights") is False
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(stored))
    _same_recipe(tmp_path / "recipe.yaml", parse_recipe(recipe))
    recipe["stages"][0]["int8-dynamic"]["full_range_weights"] = True
    with pytest.raises(ConfigError, match=r"stages\[0\].int8-dynamic.full_range_weights differs"):
        _same_recipe(tmp_path / "recipe.yaml", parse_recipe(recipe))


CTRL_C_IN_A_FINALIZER = """
import os, signal
from tinyai.recipe.runner import _CtrlC

class Finalized:
    def __del__(self):  # Python drops an exception raised here ("Exception ignored in")
        os.kill(os.getpid(), signal.SIGINT)

with _CtrlC() as ctrl_c:
    try:
        Finalized()
    except KeyboardInterrupt:  # where the handler ran after the finalizer, not inside it
        print("raised at once")
    try:
        ctrl_c.check()
    except KeyboardInterrupt:
        print("the run's check: stopped")
"""


def test_a_ctrl_c_that_python_drops_in_a_finalizer_still_stops_the_run() -> None:
    # In a subprocess: the signal goes to the whole process, not to the test runner.
    proc = subprocess.run([sys.executable, "-c", CTRL_C_IN_A_FINALIZER], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "the run's check: stopped" in proc.stdout.splitlines(), (proc.stdout, proc.stderr)
