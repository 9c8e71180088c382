"""GRU / LSTM weights as int8 (Int8Dynamic, WeightOnly(bits=8)): smaller files, the same
free sequence length, the same outputs in ONNX Runtime, and a model directory round trip."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

import tinyai
from tinyai.models import CharLM, CharLMConfig, load_model, save_model
from tinyai.quantize import Int8Dynamic, WeightOnly, quantize_
from tinyai.quantize.weight_int8 import Int8WeightRNN
from tinyai.tasks import get_task

RNG = np.random.default_rng(0)
WINDOWS = RNG.integers(0, 65, (24, 17))


@pytest.mark.parametrize(("cell", "config"), [("gru", Int8Dynamic()),
                                              ("lstm", WeightOnly(bits=8, group_size=16))])
def test_recurrent_weights_ship_as_int8(cell, config, tmp_path) -> None:
    task = get_task("array-lm", data={"train": WINDOWS})
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(cell=cell, embed_dim=16, hidden_size=32, seq_len=16)).eval()
    dense = tinyai.export(model, tmp_path / "float", task)
    x = torch.from_numpy(WINDOWS[:3, :16])
    reference = model(x)
    quantize_(model, config)
    assert isinstance(model.rnn, Int8WeightRNN)
    assert (model(x) - reference).abs().max() < 0.02 * reference.abs().max()
    artifact = tinyai.export(model, tmp_path / "int8", task)
    proto = onnx.load(str(artifact / "model.onnx"))
    assert cell.upper() in {n.op_type for n in proto.graph.node}
    weights = json.loads((artifact / "manifest.json").read_text())["model"]["weights"]
    assert weights["bytes_by_dtype"]["int8"] >= model.rnn.logical_weights
    assert (artifact / "model.onnx").stat().st_size < 0.5 * (dense / "model.onnx").stat().st_size
    longer = RNG.integers(0, 65, (2, 40))  # the sequence length stays free
    np.testing.assert_allclose(tinyai.load_artifact(artifact).run({"inputs": longer}),
                               model(torch.from_numpy(longer)).detach().numpy(), atol=1e-5)
    save_model(model, tmp_path / "model")
    assert torch.equal(load_model(tmp_path / "model")(x), model(x))
