"""Quantized models take the same export path as any model: one exporter call, with the
task's real inputs, `ExportConfig`, the translation table and the dynamic axes; then the
integer rewrite. Exporting is deterministic, and recurrent models keep a free length."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch

import tinyai
from tinyai.export import ExportConfig, extensions
from tinyai.runtime import load_artifact
from tinyai.tasks import get_task


def _char(cell: str) -> torch.nn.Module:
    from tinyai.models import CharLM, CharLMConfig

    torch.manual_seed(0)
    return CharLM(CharLMConfig(cell=cell, embed_dim=16, hidden_size=32, seq_len=16)).eval()


def _mlp() -> torch.nn.Module:
    from tinyai.models import LeNet300100, LeNet300100Config

    torch.manual_seed(0)
    return LeNet300100(LeNet300100Config(hidden=(64, 32))).eval()


def _calibrated(model: torch.nn.Module, config_cls, **kw) -> torch.nn.Module:
    from tinyai.quantize import quantize_

    quantize_(model, config_cls(step="prepare", **kw))
    model.train(config_cls.__name__ == "QAT")  # QAT observes its ranges while training
    with torch.no_grad():
        for seed in range(3):
            gen = torch.Generator().manual_seed(seed)
            model(input_ids=torch.randint(0, 65, (2, 16), generator=gen))
    model.eval()
    return quantize_(model, config_cls(step="convert", **kw))


def _scheme(name: str, model: torch.nn.Module) -> torch.nn.Module:
    from tinyai.quantize import QAT, Int8Dynamic, Int8Static, WeightOnly, quantize_

    if name == "int8-dynamic":
        return quantize_(model, Int8Dynamic())
    if name == "int8-static":
        return _calibrated(model, Int8Static)
    if name == "int4":
        return quantize_(model, WeightOnly(bits=4, group_size=16))
    return _calibrated(model, QAT, bits=8)


RECURRENT = [
    ("gru", "int8-dynamic"),
    ("gru", "int8-static"),
    ("gru", "int4"),
    ("gru", "qat8"),
    ("lstm", "int8-dynamic"),
]


@pytest.mark.parametrize(("cell", "scheme"), RECURRENT, ids=[f"{c}-{s}" for c, s in RECURRENT])
def test_quantized_recurrent_models_run_at_any_sequence_length(tmp_path, cell, scheme):
    model = _scheme(scheme, _char(cell))
    path = tinyai.export(model, tmp_path / "lm", "shakespeare")
    graph = onnx.load(str(path / "model.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert ops & {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits"}
    assert "MatMul" not in ops and "Gemm" not in ops  # the head runs integer kernels
    predictor = load_artifact(path)
    for length in (5, 41):
        ids = torch.randint(0, 65, (2, length), generator=torch.Generator().manual_seed(length))
        with torch.no_grad():
            want = model(input_ids=ids).numpy()
        got = predictor.run({"input_ids": ids.numpy()})
        assert got.shape == (2, length, 65)
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max() + 1e-5


TWICE = ["gru-float", "gru-int8-dynamic", "mlp-int8-dynamic", "mlp-int4"]


@pytest.mark.parametrize("row", TWICE)
def test_exporting_twice_in_one_process_gives_identical_bytes(tmp_path, row):
    from tinyai.quantize import Int8Dynamic, WeightOnly, quantize_

    arch, _, scheme = row.partition("-")
    model, task = (_char("gru"), "shakespeare") if arch == "gru" else (_mlp(), "fashion-mnist")
    if scheme == "int8-dynamic":
        quantize_(model, Int8Dynamic())
    elif scheme == "int4":
        quantize_(model, WeightOnly(bits=4, group_size=16))
    first = tinyai.export(model, tmp_path / "a", task)
    second = tinyai.export(model, tmp_path / "b", task)
    for name in ("model.onnx", "weights.packed"):
        if (first / name).exists() or (second / name).exists():
            assert (first / name).read_bytes() == (second / name).read_bytes()


def test_export_config_reaches_the_quantized_export(tmp_path):
    from tinyai.quantize import Int8Dynamic, quantize_

    model = quantize_(_mlp(), Int8Dynamic())
    path = tinyai.export(model, tmp_path / "m", "fashion-mnist", config=ExportConfig(opset=18))
    proto = onnx.load(str(path / "model.onnx"))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {18}
    assert any(node.op_type == "DynamicQuantizeMatMul" for node in proto.graph.node)


def test_registered_translations_apply_to_quantized_models(tmp_path, monkeypatch):
    from onnxscript import opset18 as op

    from tinyai.quantize import Int8Dynamic, quantize_

    def relu_as_max(x):
        return op.Max(x, op.CastLike(0.0, x))

    # Built-ins first: imported inside the swap, they would register into the throwaway
    # registry and be gone for the rest of the process (no fused attention after this test).
    extensions.translation_table()
    monkeypatch.setattr(extensions, "_TRANSLATIONS", {})
    extensions.register_onnx_translation(torch.ops.aten.relu.default, relu_as_max)
    model = quantize_(_mlp(), Int8Dynamic())
    path = tinyai.export(model, tmp_path / "m", "fashion-mnist")
    ops = [node.op_type for node in onnx.load(str(path / "model.onnx")).graph.node]
    assert "Relu" not in ops and ops.count("Max") == 2
    assert ops.count("DynamicQuantizeMatMul") == 3


def test_quantize_to_onnx_writes_the_artifacts_graph(tmp_path):
    """`tinyai.quantize.to_onnx` is the same path: the same nodes as the artifact's graph."""
    from tinyai.quantize import Int8Dynamic, quantize_, to_onnx

    model = quantize_(_mlp(), Int8Dynamic())
    task = get_task("fashion-mnist")
    artifact = tinyai.export(copy.deepcopy(model), tmp_path / "a", task)
    single = to_onnx(model, tmp_path / "m.onnx", task.example_inputs(batch_size=2), "logits")
    ops = [n.op_type for n in onnx.load(str(single)).graph.node]
    assert ops == [n.op_type for n in onnx.load(str(artifact / "model.onnx")).graph.node]
