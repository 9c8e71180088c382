"""torch's attention layers rebuilt from nn.Linear: the same outputs, and they survive the
techniques that replace Linears (quantization)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinyai.models.unfused import Attention, EncoderLayer, unfuse_attention
from tinyai.quantize import Int8Dynamic, quantize_


def _encoder(batch_first: bool, norm_first: bool, activation: str) -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=batch_first,
                                       norm_first=norm_first, activation=activation)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=batch_first).eval()


@pytest.mark.parametrize(("batch_first", "norm_first", "activation"),
                         [(True, False, "relu"), (False, True, "gelu")])
def test_an_unfused_encoder_computes_what_torch_computes(batch_first, norm_first,
                                                          activation) -> None:
    torch.manual_seed(0)
    encoder = _encoder(batch_first, norm_first, activation)
    x = torch.randn(3, 5, 16) if batch_first else torch.randn(5, 3, 16)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]])
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    with torch.no_grad():  # eval + no grad: torch takes its fused fast path here
        expected = [encoder(x), encoder(x, src_key_padding_mask=pad), encoder(x, mask=causal)]
        assert unfuse_attention(encoder) == ["layers.0.self_attn", "layers.1.self_attn"]
        got = [encoder(x), encoder(x, src_key_padding_mask=pad), encoder(x, mask=causal)]
    assert all(isinstance(layer, EncoderLayer) for layer in encoder.layers)
    # torch's nested-tensor path writes zeros at padded positions: compare the real ones
    real = ~pad if batch_first else (~pad).T
    expected[1], got[1] = expected[1][real], got[1][real]
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, atol=1e-5, rtol=1e-4)


def test_cross_attention_gets_separate_projections_and_the_same_weights() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, kdim=6, vdim=4).eval()
    holder = nn.Module()
    holder.attn = mha
    q, k, v = torch.randn(3, 2, 8), torch.randn(7, 2, 6), torch.randn(7, 2, 4)
    with torch.no_grad():
        want, want_weights = mha(q, k, v)
        unfuse_attention(holder)
        have, have_weights = holder.attn(q, k, v)
    assert isinstance(holder.attn, Attention) and not holder.attn.packed
    torch.testing.assert_close(have, want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(have_weights, want_weights, atol=1e-6, rtol=1e-4)


def test_a_quantized_encoder_still_runs_in_eval_and_quantizes_in_proj() -> None:
    torch.manual_seed(0)
    encoder = _encoder(True, False, "relu")
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        before = encoder(x)
        quantize_(encoder, Int8Dynamic())
        after = encoder(x)
    names = {n for n, m in encoder.named_modules() if type(m).__name__ == "QuantizedLinear"}
    assert "layers.0.self_attn.in_proj" in names and "layers.1.linear2" in names
    assert not any(isinstance(m, nn.MultiheadAttention) for m in encoder.modules())
    assert (after - before).abs().max() < 0.1 * before.abs().max()
