"""The hooks techniques use: graph passes by module type, and lossless weight codecs."""

import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import tinyai
from tinyai.export import extensions, register_graph_pass
from tinyai.runtime import codecs, load_artifact
from tinyai.tasks import get_task


class TaggedLinear(nn.Linear):
    """A stand-in for a technique's module type."""


class TinyImageModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = TaggedLinear(28 * 28, 10)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.fc(pixel_values.flatten(1))


def tag_graph(proto: onnx.ModelProto, model: nn.Module) -> onnx.ModelProto:
    """Rewrites the graph: scales the output by 2 with a Mul node after the last node."""
    graph = proto.graph
    out = graph.output[0].name
    graph.node[-1].output[0] = "before_scale"
    graph.initializer.append(onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two"))
    graph.node.append(onnx.helper.make_node("Mul", ["before_scale", "two"], [out]))
    return proto


@pytest.fixture
def isolated_passes(monkeypatch):
    monkeypatch.setattr(extensions, "_GRAPH_PASSES", [])


def test_graph_pass_runs_only_for_models_with_its_module_type(tmp_path, isolated_passes):
    register_graph_pass(TaggedLinear, tag_graph)
    task = get_task("fashion-mnist")
    torch.manual_seed(0)
    model = TinyImageModel().eval()
    path = tinyai.export(model, tmp_path / "tagged", task=task)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["model"]["graph_passes"] == ["tag_graph"]
    inputs = task.example_inputs(batch_size=2)
    with torch.no_grad():
        expected = 2 * model(**inputs).numpy()
    got = load_artifact(path).run({k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert extensions.passes_for(nn.Sequential(nn.Linear(2, 2))) == []


def test_raw_codec_round_trips_any_dtype():
    raw = codecs.get_codec("raw")
    for array in (
        np.arange(12, dtype=np.int8).reshape(3, 4),
        np.linspace(-1, 1, 7, dtype=np.float16),
    ):
        data, meta = raw.encode(array)
        back = codecs.decode("raw", data, meta, list(array.shape), array.dtype.name)
        assert back.dtype == array.dtype and np.array_equal(back, array)


def test_encode_smallest_picks_a_smaller_exact_codec_for_sparse_weights():
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((64, 64)).astype(np.float32)
    weights[rng.random(weights.shape) < 0.9] = 0.0
    name, data, meta = codecs.encode_smallest(weights)
    assert name != "raw" and len(data) < weights.nbytes / 2
    assert np.array_equal(codecs.decode(name, data, meta, [64, 64], "float32"), weights)
    dense = rng.standard_normal((64, 64)).astype(np.float32)
    assert codecs.encode_smallest(dense)[0] == "raw"


def test_unknown_codec_is_a_clear_error():
    with pytest.raises(KeyError, match="upgrade tinyai"):
        codecs.get_codec("from-the-future")


def test_tinyai_export_stays_callable_once_the_package_is_imported():
    import importlib

    module = importlib.import_module("tinyai.export")  # binds tinyai.export to the package
    assert callable(tinyai.export) and callable(module)
    assert module.export.__name__ == "export"


def test_a_swapped_out_translation_registry_takes_its_required_ops_with_it(monkeypatch):
    """A test that isolates its translations must not leave the rest of the process exporting
    recurrent models with dynamo (torchscript is their default)."""
    from tinyai.export.onnx_export import choose_exporter

    gru = nn.Sequential(nn.GRU(4, 8, batch_first=True))
    assert choose_exporter(gru, "auto") == "torchscript"
    monkeypatch.setattr(extensions, "_TRANSLATIONS", {})
    extensions.register_onnx_translation(torch.ops.aten.relu.default, lambda x: x)
    assert choose_exporter(gru, "auto") == "dynamo"
    monkeypatch.undo()
    assert choose_exporter(gru, "auto") == "torchscript"
    assert torch.ops.aten.relu.default not in extensions.translation_table()
