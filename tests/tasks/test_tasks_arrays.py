"""Tasks on the user's own tensors: files or arrays in, the same batching, metrics and export
as every task, and one-line errors for what does not fit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from torch import nn

import tinyai
from tinyai.errors import ConfigError, DataError
from tinyai.runtime.bench import sample_inputs
from tinyai.tasks import get_task
from tinyai.tasks.spec import TaskSpec, build_task

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6)).astype(np.float64)  # float64 on purpose: made float32
Y = (X[:, 0] > 0).astype(np.int64)


def _sources(tmp_path) -> dict[str, object]:
    np.savez(tmp_path / "train.npz", x=X, labels=Y)
    save_file({"x": X.astype(np.float32), "labels": Y}, str(tmp_path / "train.safetensors"))
    folder = tmp_path / "train_npy"
    folder.mkdir()
    np.save(folder / "x.npy", X)
    np.save(folder / "labels.npy", Y)
    return {"npz": tmp_path / "train.npz", "safetensors": tmp_path / "train.safetensors",
            "folder": folder, "mapping": {"x": torch.from_numpy(X), "labels": Y}}


@pytest.mark.parametrize("form", ["npz", "safetensors", "folder", "mapping"])
def test_every_source_gives_the_same_task(tmp_path, form) -> None:
    task = get_task("array-classification", data={"train": _sources(tmp_path)[form]})
    assert task.input_names == ("x",) and task.label_names == ["0", "1"]
    batch = next(task.batches("train", 16))
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (16, 6)
    np.testing.assert_array_equal(batch["labels"].numpy(), Y[:16])
    scores = np.eye(2)[Y]  # perfect predictions
    assert task.metrics(scores, Y) == {"accuracy": 1.0}


def test_the_kind_is_read_from_the_files(tmp_path) -> None:
    np.savez(tmp_path / "reg.npz", x=X, labels=X[:, 0] * 0.5)
    np.save(tmp_path / "windows.npy", RNG.integers(0, 9, (20, 9)))
    sources = _sources(tmp_path)
    assert build_task(TaskSpec(data={"train": str(sources["npz"])})).kind == \
        "array-classification"
    assert build_task(TaskSpec(data={"train": str(tmp_path / "reg.npz")})).kind == \
        "array-regression"
    lm = build_task(TaskSpec(data={"train": str(tmp_path / "windows.npy")}, holdout=0.25))
    assert lm.kind == "array-lm" and lm.splits == ("train", "test")
    batch = next(lm.numpy_batches("train", 4))
    assert batch["inputs"].shape == (4, 8) and batch["labels"].shape == (4, 8)
    assert lm.input_axes == {"inputs": {0: "batch", 1: "sequence"}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"x": X}}, "has no 'labels' array"),
        ({"train": {"x": X, "labels": Y[:5]}}, "same number of examples"),
        ({"train": {"x": X.astype(str), "labels": Y}}, "give numbers"),
        ({"train": {"x": X, "labels": Y - 3}}, "class ids >= 0"),
        ({"train": {"x": X, "labels": Y}, "test": {"z": X, "labels": Y}}, "same arrays"),
        ({"train": "missing.npz"}, "does not exist"),
    ],
)
def test_bad_arrays_are_one_line_naming_the_fix(data, message) -> None:
    with pytest.raises(DataError, match=message) as info:
        get_task("array-classification", data=data)
    assert "\n" not in str(info.value)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(6 + 3, 2)

    def forward(self, a, b):
        return self.net(torch.cat([a, b], dim=1))


def test_an_array_artifact_takes_raw_arrays_and_scores_like_pytorch(tmp_path) -> None:
    extra = RNG.standard_normal((40, 3)).astype(np.float32)
    split = lambda s: {"x": X[s], "extra": extra[s], "labels": Y[s]}  # noqa: E731
    task = get_task("array-classification", data={"train": split(slice(0, 30)),
                                                   "test": split(slice(30, 40))})
    model = _TwoInputs().eval()
    artifact = tinyai.export(model, tmp_path / "art", task)
    predictor = tinyai.load_artifact(artifact)
    assert predictor.manifest["preprocessing"]["inputs"][0] == {
        "name": "x", "dtype": "float32", "shape": [6], "example_shape": [6]}
    one = predictor.predict({"x": X[30:32], "extra": extra[30:32]})
    assert [r["label"] for r in one] == [str(i) for i in
                                         model(torch.tensor(X[30:32]).float(),
                                               torch.tensor(extra[30:32])).argmax(1).tolist()]
    assert tinyai.evaluate(artifact, task)["metrics"] == tinyai.evaluate(model, task)["metrics"]
    with pytest.raises(DataError, match=r"input 'x' has shape \[2, 5\]; this model takes"):
        predictor.predict({"x": X[:2, :5], "extra": extra[:2]})
    assert sample_inputs(predictor, 3)["extra"].shape == (3, 3)


def test_export_with_only_example_inputs(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh()).eval()
    x = torch.randn(2, 6)
    with pytest.raises(ConfigError, match="needs a task") as info:
        tinyai.export(model, tmp_path / "none", None)
    assert "\n" not in str(info.value)
    artifact = tinyai.export(model, tmp_path / "bare", example_inputs=x)
    predictor = tinyai.load_artifact(artifact)
    assert predictor.kind == "tensors"
    np.testing.assert_allclose(predictor.outputs(np.ones((5, 6), np.float32)),
                               model(torch.ones(5, 6)).detach().numpy(), atol=1e-6)


class _TokenClassifier(nn.Module):
    """Mean of the unmasked tokens' embeddings -> classes: takes any sequence length."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        return self.out((self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0))


def _token_task() -> object:
    """Token ids [N, 12] and their mask; the label is the first token's parity."""
    ids = np.random.default_rng(1).integers(0, 50, (40, 12))
    mask = np.ones_like(ids)
    mask[::3, 9:] = 0  # some padded examples, so the mask matters
    labels = ids[:, 0] % 2
    split = lambda s: {"input_ids": ids[s], "attention_mask": mask[s], "labels": labels[s]}  # noqa: E731
    return get_task("array-classification", data={"train": split(slice(0, 30)),
                                                   "test": split(slice(30, 40))})


def test_token_ids_export_with_a_free_sequence_axis(tmp_path) -> None:
    import onnx

    task = _token_task()
    assert task.input_axes["input_ids"] == {0: "batch", 1: "sequence"}
    torch.manual_seed(0)
    model = _TokenClassifier().eval()
    artifact = tinyai.export(model, tmp_path / "tokens", task)
    graph = onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph
    for value in graph.input:
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "sequence"]
    predictor = tinyai.load_artifact(artifact)
    assert predictor.manifest["preprocessing"]["inputs"][0]["shape"] == [None]
    for length in (5, 31):  # shorter and longer than the example's 12
        ids = RNG.integers(0, 50, (3, length))
        mask = np.ones_like(ids)
        mask[0, length // 2:] = 0
        produced = predictor.outputs({"input_ids": ids, "attention_mask": mask})
        with torch.no_grad():
            expected = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        np.testing.assert_allclose(produced, expected, atol=1e-5)


class _FlattenedTokens(nn.Module):
    """Token ids embedded and flattened into a Linear: it only takes the length it was made
    for."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.out = nn.Embedding(50, 4), nn.Linear(4 * 12, 2)

    def forward(self, ids):
        return self.out(self.embed(ids).flatten(1))


def test_a_model_that_fixes_the_sequence_length_exports_with_it_fixed(tmp_path) -> None:
    import onnx

    ids = RNG.integers(0, 50, (24, 12))
    task = get_task("array-classification", data={
        "train": {"input_ids": ids[:16], "labels": ids[:16, 0] % 2},
        "test": {"input_ids": ids[16:], "labels": ids[16:, 0] % 2}})
    assert task.input_axes["input_ids"] == {0: "batch", 1: "sequence"}  # what arrays suggest
    artifact = tinyai.export(_FlattenedTokens().eval(), tmp_path / "fixed", task)
    graph = onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 12  # declared as it is
    assert tinyai.evaluate(artifact, task)["metrics"]["accuracy"] >= 0.0


def test_an_artifact_of_arrays_in_memory_is_scored_on_the_task_passed(tmp_path) -> None:
    task = _token_task()
    torch.manual_seed(0)
    model = _TokenClassifier().eval()
    artifact = tinyai.export(model, tmp_path / "tokens", task)
    with pytest.raises(ConfigError, match=r"data given in memory.*task=get_task\("
                       r"'array-classification', data=.*--data test=FILE.npz") as info:
        tinyai.evaluate(artifact)
    assert "\n" not in str(info.value)
    scored = tinyai.evaluate(artifact, task=task)
    assert scored["examples"] == 10 and scored["source"] == "artifact"
    assert scored["metrics"] == tinyai.evaluate(model, task)["metrics"]
    # the command line takes the same data as files
    test = task.dataset("test")
    np.savez(tmp_path / "test.npz", labels=test.labels, **test.inputs)
    cli = subprocess.run([sys.executable, "-m", "tinyai", "evaluate", str(artifact), "--data",
                          f"test={tmp_path / 'test.npz'}", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["metrics"] == scored["metrics"]
    # without --data, the command says the same one line as the Python call
    bare = subprocess.run([sys.executable, "-m", "tinyai", "evaluate", str(artifact)],
                          capture_output=True, text=True, timeout=300)
    assert bare.returncode == 2
    lines = bare.stderr.strip().splitlines()
    assert len(lines) == 1 and "given in memory" in lines[0] and "--data test=" in lines[0]
