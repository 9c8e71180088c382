"""Every (model, technique) row exports to a checked artifact whose outputs match PyTorch."""

import json

import numpy as np
import onnx
import pytest
import torch
from artifact_cases import BY_ID, artifact, params

from tinyai.errors import ArtifactError
from tinyai.runtime import load_artifact
from tinyai.runtime.manifest import sha256_file


def _reference(model, inputs):
    with torch.no_grad():
        return model(**inputs).float().numpy()


@pytest.mark.parametrize("row_id", params())
def test_artifact_has_checked_graph_and_complete_manifest(row_id):
    _, task, path = artifact(row_id)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["task"] == task.name and manifest["kind"] == task.kind
    names = [i["name"] for i in manifest["inputs"]]
    # after the task's inputs, a character model's state between calls (tinyai.models.charlm)
    assert names[: len(task.input_names)] == list(task.input_names)
    extra = {"char-gru": ["state"], "char-transformer": ["state", "position"]}
    assert names[len(task.input_names) :] == extra.get(row_id, [])
    assert manifest["outputs"][0]["name"] == task.output_name
    assert all(i["shape"][0] == "batch" for i in manifest["inputs"] if i["name"] != "position")
    assert manifest["label_names"] == task.label_names
    assert manifest["tinyai_version"] and manifest["history"][0]["stage"] == row_id
    for name, entry in manifest["files"].items():
        assert sha256_file(path / name) == entry["sha256"]
        assert (path / name).stat().st_size == entry["bytes"]
    if not manifest["packed_weights"]:  # a packed graph was checked before its weights moved
        onnx.checker.check_model(str(path / "model.onnx"), full_check=True)
    assert manifest["export_check"]["max_abs_diff"] <= max(
        1e-6, BY_ID[row_id].tolerance * manifest["export_check"]["max_abs_reference"]
    )


@pytest.mark.parametrize("row_id", params())
def test_artifact_matches_pytorch_at_other_batch_sizes(row_id):
    model, task, path = artifact(row_id)
    predictor = load_artifact(path)
    for batch_size in (1, 4):
        inputs = task.example_inputs(batch_size=batch_size)
        expected = _reference(model, inputs)
        got = predictor.run({k: v.numpy() for k, v in inputs.items()})
        bound = max(1e-6, BY_ID[row_id].tolerance * float(np.abs(expected).max()))
        assert got.shape == expected.shape
        assert float(np.abs(got - expected).max()) <= bound


def test_text_artifact_accepts_any_sequence_length():
    model, task, path = artifact("minilm-sst2")
    predictor = load_artifact(path)
    sentences = [
        "ok",
        "a considerably longer sentence, with more tokens than the traced example had",
    ]
    inputs = task.encode(sentences)
    expected = _reference(model, {k: torch.from_numpy(v) for k, v in inputs.items()})
    np.testing.assert_allclose(predictor.outputs(sentences), expected, atol=2e-5)


def test_text_artifact_stores_its_tokenizer_compactly():
    # transformers writes tokenizer.json indented (a third larger); an artifact exported from
    # a saved model directory (a resumed run) must not carry more bytes than one exported in
    # one go, so the exporter writes it without indentation, same content.
    _, task, path = artifact("minilm-sst2")
    text = (path / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8")
    assert "\n" not in text and '", "' not in text
    stored, own = json.loads(text), json.loads(task.tokenizer.backend_tokenizer.to_str())
    assert stored["model"] == own["model"] and stored["added_tokens"] == own["added_tokens"]
    sentences = ["a compact tokenizer, the same ids"]
    np.testing.assert_array_equal(load_artifact(path).preprocess(sentences)["input_ids"],
                                  task.encode(sentences)["input_ids"])


def _model_bytes(path):
    manifest = json.loads((path / "manifest.json").read_text())
    return sum(e["bytes"] for n, e in manifest["files"].items() if not n.startswith("tokenizer"))


@pytest.mark.parametrize(("row_id", "max_ratio"), [("mlp-pruned", 0.25), ("mlp-clustered", 0.2)])
def test_sparse_and_clustered_weights_are_packed_losslessly(row_id, max_ratio):
    model, _, path = artifact(row_id)
    manifest = json.loads((path / "manifest.json").read_text())
    packed = manifest["packed_weights"]
    assert packed and {t["codec"] for t in packed["tensors"]} - {"raw"}
    assert _model_bytes(path) < max_ratio * _model_bytes(artifact("mlp")[2])
    # Lossless: the decoded weights are the module's weights bit for bit.
    from tinyai.runtime.session import read_packed_weights

    decoded = read_packed_weights(path, packed)
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    for name, array in decoded.items():
        assert np.array_equal(array, weights[name])


@pytest.mark.parametrize(("row_id", "dtype"), [("mlp-int8", "int8"), ("mlp-int4", "uint8")])
def test_quantized_artifacts_store_integer_weights(row_id, dtype):
    _, _, path = artifact(row_id)
    manifest = json.loads((path / "manifest.json").read_text())
    by_dtype = manifest["model"]["weights"]["bytes_by_dtype"]
    assert by_dtype.get(dtype, 0) > by_dtype.get("float", 0)
    assert manifest["model"]["graph_passes"]
    assert _model_bytes(path) < 0.3 * _model_bytes(artifact("mlp")[2])


def test_export_refuses_to_overwrite_a_folder_that_is_not_an_artifact(tmp_path):
    import tinyai

    (tmp_path / "notes.txt").write_text("mine")
    model, task, _ = artifact("kws")
    with pytest.raises(ArtifactError, match="was not written by tinyai"):
        tinyai.export(model, tmp_path, task=task)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_failed_export_keeps_the_previous_artifact_and_leaves_no_partial_folder(tmp_path):
    from artifact_cases import copy_of

    import tinyai
    from tinyai.errors import ConfigError
    from tinyai.export import ExportConfig

    model, task, _ = artifact("char-gru")
    previous = copy_of("kws", tmp_path)
    before = (previous / "manifest.json").read_text()
    with pytest.raises(ConfigError):  # pte refuses GRUs (or executorch is not installed)
        tinyai.export(model, previous, task=task, config=ExportConfig(formats=("onnx", "pte")))
    assert (previous / "manifest.json").read_text() == before
    load_artifact(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kws"]


def test_held_pruning_masks_are_baked_in_before_export(tmp_path):
    import numpy as np
    import onnx
    import torch

    from tinyai.export import export
    from tinyai.models import LeNet300100, LeNet300100Config
    from tinyai.prune import MagnitudePruning, masks, prune_
    from tinyai.runtime import load_artifact
    from tinyai.tasks import get_task

    torch.manual_seed(0)
    model = prune_(LeNet300100(LeNet300100Config()).eval(), MagnitudePruning(sparsity=0.9))
    task = get_task("fashion-mnist")
    inputs = task.example_inputs(batch_size=2)
    model(**inputs)  # a forward pass leaves the masked weight as a non-leaf tensor
    artifact = export(model, tmp_path / "art", task)
    proto = onnx.load(str(artifact / "model.onnx"), load_external_data=False)
    names = [i.name for i in proto.graph.initializer]
    assert not [n for n in names if n.endswith(("_mask", "_orig"))]
    assert masks(model), "export must not change the caller's model"
    got = load_artifact(artifact).run({k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(got, model(**inputs).detach().numpy(), rtol=1e-4, atol=1e-5)
