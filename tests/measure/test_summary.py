"""summary(): hand-computed params/MACs, sparsity, real bytes of quantized storage, JSON, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tinyai.measure.summary import ModelSummary, summary
from tinyai.models import CharLM, CharLMConfig, FashionCNN, FashionCNNConfig


def _tiny() -> nn.Module:
    # conv: 4 x (1x3x3) + 4 bias = 40 params; 8x8 input -> 6x6 output
    # linear: 144 -> 10 = 1440 + 10 = 1450 params
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def test_params_bytes_and_macs_match_hand_computation() -> None:
    result = summary(_tiny(), torch.randn(1, 1, 8, 8))
    rows = {row.name: row for row in result.layers}
    assert set(rows) == {"0", "3"}  # ReLU and Flatten store and compute nothing
    assert (rows["0"].params, rows["3"].params) == (40, 1450)
    assert rows["0"].macs == 4 * 6 * 6 * 9  # out channels x out pixels x kernel
    assert rows["3"].macs == 144 * 10
    assert result.params == 1490 and result.bytes == 1490 * 4
    assert result.macs == 1296 + 1440
    assert rows["3"].dtype == "float32" and rows["3"].bits == 32
    assert result.inputs == {"input_0": [1, 1, 8, 8]}


def test_public_verb_is_the_same_function() -> None:
    import tinyai

    assert tinyai.summary is summary
    assert tinyai.summary(_tiny(), torch.randn(1, 1, 8, 8)).params == 1490


def test_batch_scales_macs_not_params() -> None:
    one = summary(_tiny(), torch.randn(1, 1, 8, 8))
    four = summary(_tiny(), (torch.randn(4, 1, 8, 8),))
    assert four.macs == 4 * one.macs and four.params == one.params


def test_sparsity_after_zeroing_weights() -> None:
    model = _tiny()
    with torch.no_grad():
        model[3].weight[:, :72] = 0  # half of the linear weights
    result = summary(model)
    linear = next(row for row in result.layers if row.name == "3")
    assert linear.nonzero == 1450 - 720
    assert linear.sparsity == pytest.approx(720 / 1450)
    assert result.sparsity == pytest.approx(720 / 1490)
    assert result.macs is None  # no inputs given and the model has no example_inputs


class PackedInt8Linear(nn.Module):
    """A quantized layer that keeps its weight as an int8 buffer plus per-row scales."""

    def __init__(self, out_features: int, in_features: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight.float() * self.scale[:, None]).t()


def test_quantized_buffers_count_at_their_real_size() -> None:
    result = summary(nn.Sequential(PackedInt8Linear(64, 128)), torch.randn(2, 128))
    (row,) = result.layers
    assert row.params == 64 * 128 + 64
    assert row.bytes == 64 * 128 + 64 * 4
    assert row.dtype == "int8" and row.bits == pytest.approx(8 * row.bytes / row.params, abs=1e-3)
    assert result.bytes_by_dtype == {"int8": 64 * 128, "float32": 256}
    assert result.macs == 2 * 64 * 128


def test_torchao_int8_weights_are_measured_by_their_storage() -> None:
    pytest.importorskip("torchao")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    model = nn.Sequential(nn.Linear(256, 128, bias=False))
    float_bytes = summary(model).bytes
    quantize_(model, Int8WeightOnlyConfig())
    result = summary(model, torch.randn(1, 256))
    assert result.params == 256 * 128
    assert result.layers[0].dtype == "int8"
    assert float_bytes / 4.2 < result.bytes < float_bytes / 3.5  # int8 + per-row scales


def test_batchnorm_statistics_are_stored_but_not_weights() -> None:
    model = FashionCNN(FashionCNNConfig(channels=(4,)))
    model.train()
    stats = model.features[0][0][1].running_mean.clone()
    result = summary(model)
    assert result.params == sum(p.numel() for p in model.parameters())
    bn = next(row for row in result.layers if row.type == "BatchNorm2d")
    assert bn.params == 8 and bn.bytes == 8 * 4 + 8 * 4 + 8  # weight+bias, mean+var, counter
    assert model.training and torch.equal(model.features[0][0][1].running_mean, stats)


def test_shared_weights_count_once() -> None:
    a, b = nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False)
    b.weight = a.weight
    result = summary(nn.Sequential(a, b), torch.randn(1, 8))
    assert result.params == 64 and result.macs == 2 * 64


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_macs(cell: str) -> None:
    config = CharLMConfig(
        cell=cell, vocab_size=11, embed_dim=6, hidden_size=10, num_layers=2, seq_len=7
    )
    result = summary(CharLM(config))  # example_inputs: 1 x 7 tokens
    gates = 3 if cell == "gru" else 4
    steps = 7
    rnn = gates * 10 * (6 + 10) + gates * 10 * (10 + 10)  # both layers: W_ih and W_hh
    rows = {row.name: row for row in result.layers}
    assert rows["rnn"].macs == steps * rnn
    assert rows["head"].macs == steps * 10 * 11
    assert rows["rnn"].type == cell.upper()


def test_minilm_macs_and_params() -> None:
    from tinyai.models import load_model

    result = summary(load_model("minilm-l6"))  # example inputs: 1 x 128 tokens
    tokens, hidden, ffn, layers = 128, 384, 1536, 6
    linear = layers * tokens * (4 * hidden * hidden + 2 * hidden * ffn)
    attention = layers * 2 * tokens * tokens * hidden  # QK^T and AV
    pooler = hidden * hidden
    assert result.macs == linear + attention + pooler
    assert result.params == 22_713_216
    assert result.bytes == 4 * 22_713_216
    assert result.inputs == {"input_ids": [1, 128], "attention_mask": [1, 128]}


def test_json_round_trip_and_rich_table() -> None:
    from rich.console import Console

    result = summary(FashionCNN(FashionCNNConfig(channels=(4, 8), residual=True)))
    data = json.loads(result.to_json())
    assert data["total"]["params"] == result.params and data["total"]["macs"] == result.macs
    assert {
        "name",
        "type",
        "params",
        "nonzero",
        "sparsity",
        "dtype",
        "bits",
        "bytes",
        "macs",
    } <= set(data["layers"][0])
    assert ModelSummary.from_json(result.to_json()).to_dict() == result.to_dict()

    console = Console(record=True, width=200)
    console.print(result.rich_table())
    text = console.export_text()
    assert "features.0.0.0" in text and "total" in text and "Conv2d" in text


def test_cli_summary_json(run_cli) -> None:
    out = run_cli("summary", "minilm-l6", "--json", "--input-shape", "1x16")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"] == "SentenceEncoder"
    assert data["total"]["params"] == 22_713_216
    assert data["inputs"]["input_ids"] == [1, 16]


def test_cli_summary_missing_model_is_one_line(run_cli) -> None:
    out = run_cli("summary", "/no/such/model")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: model '/no/such/model'")


def test_packed_bytes_show_what_a_pruned_model_really_stores() -> None:
    from tinyai.prune import MagnitudePruning, prune_

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    dense = summary(model)
    assert dense.packed_bytes == dense.bytes  # nothing to gain on dense random weights
    prune_(model, MagnitudePruning(sparsity=0.9))  # masks held, as during fine-tuning
    sparse = summary(model)
    assert sparse.params == dense.params  # the mask buffers are not counted as weights
    assert sparse.sparsity > 0.85
    assert sparse.packed_bytes < dense.bytes / 4


def test_tinyai_quantized_layers_count_weights_not_packed_bytes() -> None:
    from tinyai.quantize import Int8Static, WeightOnly, quantize_

    def bits_of(model: nn.Module, inputs: torch.Tensor) -> dict[str, tuple[int, float]]:
        return {row.type: (row.params, row.bits) for row in summary(model, inputs).layers}

    # int4, group 128: 4 bits + a float32 scale and a uint8 zero point per 128 weights
    lin = quantize_(nn.Sequential(nn.Linear(256, 128)), WeightOnly(bits=4, group_size=128))
    params, bits = bits_of(lin, torch.randn(1, 256))["LowBitLinear"]
    assert params == 256 * 128 + 128  # weights + bias, not packed bytes + scales
    assert bits == pytest.approx(4 + (32 + 8) / 128, abs=1e-3)

    conv = nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU())
    quantize_(conv.eval(), Int8Static())
    conv(torch.randn(2, 16, 8, 8))
    quantize_(conv, Int8Static(step="convert"))
    params, bits = bits_of(conv, torch.randn(1, 16, 8, 8))["QuantizedConv2d"]
    assert params == 32 * 16 * 9 + 32  # weight shape + (int32) bias
    assert 8.0 < bits < 8.3  # int8 + one float32 scale per 144 weights
    row = summary(conv).layers[0]
    assert row.nonzero <= row.params and row.dtype == "int8"
