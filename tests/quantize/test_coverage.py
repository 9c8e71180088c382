"""What each scheme quantizes in layers users write (convs, RNNs, tied weights), and how it
says what it left in float: a warning, and the layer's note in the summary."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import tinyai
from tinyai.errors import ConfigError
from tinyai.quantize import Int8Dynamic, Int8Static, WeightOnly, quantize_
from tinyai.quantize.modules import QuantizedLinear
from tinyai.quantize.weight_int8 import Int8WeightConv, Int8WeightRNN


def _convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 10, 3)).eval()


def _quantized(model: nn.Module, config) -> tuple[nn.Module, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantize_(model, config)
    return model, [str(w.message) for w in caught if "kept float" in str(w.message)]


@pytest.mark.parametrize("config", [Int8Dynamic(), WeightOnly(bits=8, group_size=16)])
def test_int8_schemes_store_conv1d_weights_as_int8(config, tmp_path) -> None:
    model = _convnet()
    x = torch.randn(5, 4, 10)
    reference = model(x)
    model, said = _quantized(model, config)
    assert not said
    assert [type(m) for m in model if isinstance(m, Int8WeightConv)] == [Int8WeightConv] * 2
    assert isinstance(model[1], nn.Identity)  # BatchNorm folded into the conv first
    torch.testing.assert_close(model(x), reference, atol=0.05, rtol=0.05)
    table = tinyai.summary(model, (x[:1],))
    conv = next(r for r in table.layers if r.type == "Int8WeightConv")
    assert conv.dtype == "int8" and 8 <= conv.bits < 11  # + a float scale per 12 weights
    artifact = tinyai.export(model, tmp_path / "conv", example_inputs=x[:2])
    onnx_ops = {n.op_type for n in _graph(artifact).node}
    assert "DequantizeLinear" in onnx_ops and "Conv" in onnx_ops
    np.testing.assert_allclose(tinyai.load_artifact(artifact).outputs(x.numpy()),
                               model(x).detach().numpy(), atol=1e-5, rtol=1e-4)


def _graph(artifact):
    import onnx

    return onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph


def test_what_stays_float_is_said_in_a_warning_and_in_the_summary() -> None:
    model = _convnet()
    model, said = _quantized(model, WeightOnly(bits=4, group_size=16))
    assert len(said) == 1 and "\n" not in said[0]
    assert "0 (no 4-bit convolution kernel in ONNX Runtime)" in said[0]
    assert "3 (no 4-bit convolution kernel in ONNX Runtime)" in said[0]
    assert type(model[6]).__name__ == "LowBitLinear"
    notes = {r.name: r.note for r in tinyai.summary(model, (torch.randn(1, 4, 10),)).layers}
    assert notes["0"] == "no 4-bit convolution kernel in ONNX Runtime" and notes["6"] == ""


class _TiedGRU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        self.gru = nn.GRU(16, 16, batch_first=True)
        self.head = nn.Linear(16, 30, bias=False)
        self.head.weight = self.embed.weight
        self.extra = nn.Linear(16, 16)

    def forward(self, ids):
        return self.head(self.extra(self.gru(self.embed(ids))[0]))


def test_tied_weights_stay_float_rnns_go_int8_and_both_are_said() -> None:
    model = _TiedGRU()
    weights = sum(p.numel() for p in model.parameters())  # the tied matrix once
    model, said = _quantized(model, Int8Dynamic())
    assert isinstance(model.extra, QuantizedLinear) and isinstance(model.gru, Int8WeightRNN)
    assert model.head.weight is model.embed.weight  # still one tensor
    assert "head (its weight is tied to embed.weight" in said[0]
    table = tinyai.summary(model, (torch.zeros(1, 5, dtype=torch.long),))
    assert table.params == weights  # int8 layers count the weights they stand for
    _, said = _quantized(_TiedGRU(), WeightOnly(bits=4, group_size=16))
    assert "gru (WeightOnly keeps recurrent weights float; Int8Dynamic and " \
           "WeightOnly(bits=8) store them as int8)" in said[0]


def test_a_two_step_scheme_with_nothing_to_quantize_says_so_at_prepare() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.GRU(4, 4))
    with pytest.raises(ConfigError, match="Int8Static has no layer to quantize in Sequential: "
                                          r"0 \(a small table") as info:
        quantize_(model, Int8Static(step="prepare"))
    assert "\n" not in str(info.value)
