"""Artifacts carry only what runs: no graph annotations, small compressed tensors packed."""

import json

import numpy as np
import onnx
import pytest
import torch
from artifact_cases import BY_ID, artifact, params
from torch import nn

import tinyai
from tinyai.export import ExportConfig, slim
from tinyai.runtime import load_artifact
from tinyai.tasks import get_task


def _graph(path):
    return onnx.load(str(path / "model.onnx"), load_external_data=False).graph


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("row_id", params())
def test_saved_graph_keeps_only_what_onnxruntime_reads(row_id):
    _, _, path = artifact(row_id)
    graph = _graph(path)
    manifest = json.loads((path / "manifest.json").read_text())
    assert len(graph.metadata_props) == 0 and not graph.doc_string
    assert not any(n.name or n.doc_string or n.metadata_props for n in graph.node)
    values = [*graph.input, *graph.output, *graph.value_info]
    assert not any(v.metadata_props or v.doc_string for v in values)
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    assert [_dims(v) for v in inputs] == [i["shape"] for i in manifest["inputs"]]
    assert [_dims(v) for v in graph.output] == [o["shape"] for o in manifest["outputs"]]
    assert _dims(graph.output[0])[0] == "batch"
    # Shape annotations stay only where ONNX shape inference cannot re-derive them.
    proto = onnx.load(str(path / "model.onnx"), load_external_data=False)
    kept = {v.name: v.type for v in proto.graph.value_info}
    del proto.graph.value_info[:]
    derived = {v.name: v for v in onnx.shape_inference.infer_shapes(proto).graph.value_info}
    assert not [n for n, t in kept.items() if slim._same_type(t, derived.get(n))]


def test_small_cnn_graph_keeps_almost_no_shape_annotations():
    _, _, path = artifact("cnn")
    assert sum(v.ByteSize() for v in _graph(path).value_info) < 100


def _example_feeds(task, kind):
    feeds = [task.example_inputs(batch_size=3)]
    if kind.startswith(("text", "sentence")):  # another sequence length: the dynamic axis
        feeds.append(task.encode(["ok", "a longer sentence than the traced example had, by far"]))
    return [{k: np.asarray(v) for k, v in feed.items()} for feed in feeds]


# Plain float, integer kernels (com.microsoft ops), Huffman-packed, recurrent, and a text
# model whose batch and sequence axes are dynamic.
STRIPPED_ROWS = ["cnn", "mlp-int8", "mlp-int4", "mlp-clustered", "char-gru", "minilm-sst2"]


@pytest.mark.parametrize("row_id", params([BY_ID[r] for r in STRIPPED_ROWS]))
def test_stripping_leaves_onnxruntime_outputs_bit_identical(row_id, tmp_path):
    model, task, stripped = artifact(row_id)
    annotated = tinyai.export(
        model, tmp_path / "annotated", task=task, config=ExportConfig(keep_debug_info=True)
    )
    graph = _graph(annotated)  # the torchscript exporter (char-gru) writes no value_info
    assert graph.value_info or any(n.name for n in graph.node), "compare with an annotated graph"
    size = (annotated / "model.onnx").stat().st_size
    assert (stripped / "model.onnx").stat().st_size < size
    full, slim = load_artifact(annotated), load_artifact(stripped)
    for feed in _example_feeds(task, task.kind):
        np.testing.assert_array_equal(slim.run(feed), full.run(feed))


def _static_int8_cnn():
    """Convs as QDQ, which onnxruntime fuses into QLinearConv when it knows the shapes."""
    from tinyai.models import FashionCNN, FashionCNNConfig
    from tinyai.quantize import Int8Static, quantize_

    torch.manual_seed(0)
    model = quantize_(FashionCNN(FashionCNNConfig(channels=(8, 16))).eval(), Int8Static())
    with torch.no_grad():
        for _ in range(3):
            model(pixel_values=torch.randn(4, 1, 28, 28))
    return quantize_(model, Int8Static(step="convert")).eval()


def test_stripping_keeps_integer_conv_outputs_bit_identical(tmp_path):
    task = get_task("fashion-mnist")
    model = _static_int8_cnn()
    slim_dir = tinyai.export(model, tmp_path / "slim", task=task)
    full = ExportConfig(keep_debug_info=True)
    full_dir = tinyai.export(model, tmp_path / "full", task=task, config=full)
    assert {n.op_type for n in _graph(slim_dir).node} >= {"QuantizeLinear", "DequantizeLinear"}
    assert (slim_dir / "model.onnx").stat().st_size < (full_dir / "model.onnx").stat().st_size
    feed = {k: v.numpy() for k, v in task.example_inputs(batch_size=5).items()}
    got = load_artifact(slim_dir).run(feed)
    np.testing.assert_array_equal(got, load_artifact(full_dir).run(feed))


class SmallNet(nn.Module):
    """Every weight under the old 4 kB packing threshold, like a tiny keyword spotter's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3)  # 288 weights, 1152 bytes
        self.fc = nn.Linear(32, 10)  # 320 weights, 1280 bytes

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(pixel_values)).mean((2, 3)))


def _pruned(model):
    from tinyai.prune import MagnitudePruning, make_permanent, prune_

    prune_(model, MagnitudePruning(sparsity=0.9))
    return make_permanent(model)


def _clustered(model):
    from tinyai.quantize import WeightSharing, quantize_

    config = WeightSharing(bits=2, conv_bits=2, step="prepare")
    model = quantize_(model, config)
    config.step = "convert"
    return quantize_(model, config)


def _artifact_bytes(path):
    return sum(f.stat().st_size for f in path.iterdir())  # manifest (the packed index) included


@pytest.mark.parametrize(("compress", "codec"), [(_pruned, "sparse"), (_clustered, "huffman")])
def test_small_compressed_tensors_are_packed_when_that_pays(compress, codec, tmp_path):
    torch.manual_seed(0)
    model = SmallNet().eval()
    with torch.no_grad():
        model.conv.bias.zero_()  # encodes to nothing, yet too small to pay for its entry
    model = compress(model).eval()
    task = get_task("fashion-mnist")
    assert ExportConfig().min_pack_bytes < 4 * model.conv.weight.numel()  # packed by default
    config = ExportConfig(min_pack_bytes=0)  # to show the bias is left out by its accounting
    packed = tinyai.export(model, tmp_path / "packed", task=task, config=config)
    old = ExportConfig(min_pack_bytes=4096)  # the previous default: small tensors stayed raw
    plain = tinyai.export(model, tmp_path / "plain", task=task, config=old)

    manifest = json.loads((packed / "manifest.json").read_text())
    entries = {t["name"]: t for t in manifest["packed_weights"]["tensors"]}
    assert set(entries) == {"conv.weight", "fc.weight"}
    assert {t["codec"] for t in entries.values()} == {codec}
    assert json.loads((plain / "manifest.json").read_text())["packed_weights"] is None
    assert _artifact_bytes(packed) < _artifact_bytes(plain)

    inputs = task.example_inputs(batch_size=4)
    feed = {k: v.numpy() for k, v in inputs.items()}
    got = load_artifact(packed).run(feed)
    np.testing.assert_array_equal(got, load_artifact(plain).run(feed))
    with torch.no_grad():
        np.testing.assert_allclose(got, model(**inputs).numpy(), rtol=1e-5, atol=1e-6)
