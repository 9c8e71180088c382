"""Every quantization scheme keeps the fused attention of a BERT encoder, and ORT matches it.

The int8/int4 rewrite replaces the Q/K/V, output and FFN projections; the attention core
between them stays one com.microsoft.MultiHeadAttention per layer, and with int8 products the
Q/K/V products join it in one com.microsoft.QAttention. Checked on the graph ONNX Runtime runs
(its optimized model) and against the quantized PyTorch module on real SST-2 sentences padded
in one batch. Bounds as in test_onnx_parity: the same integer arithmetic on
both sides, so float rounding only (1e-5 on unit-norm embeddings).
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tinyai.quantize import (
    QAT,
    Int8Dynamic,
    Int8Static,
    MixedPrecision,
    WeightOnly,
    quantize_,
    to_onnx,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from attention_cases import ort_ops, tiny_bert

LAYERS = 2
TOLERANCE = 1e-5
EIGHT_BIT_LAYER = "encoder.encoder.layer.0.output.dense"  # mixed: this one keeps 8 bits


@pytest.fixture(scope="module")
def batches() -> dict[str, dict[str, torch.Tensor]]:
    from tinyai.data import load_glue
    from tinyai.models import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    texts = {"calib": list(load_glue("sst2", "test").texts[:16]),
             "check": list(load_glue("sst2", "dev").texts[:8])}  # fmt: skip
    out = {}
    for split, lines in texts.items():
        enc = tok(lines, padding=True, return_tensors="pt")
        out[split] = {k: enc[k] for k in ("input_ids", "attention_mask")}
    return out


@pytest.fixture(scope="module")
def encoder() -> nn.Module:
    from tinyai.models import SentenceEncoder

    return SentenceEncoder(tiny_bert(layers=LAYERS)).eval()


def _calibrated(config: QAT | Int8Static) -> Callable[[nn.Module, dict], nn.Module]:
    """prepare, feed the calibration batch (QAT: the observers' forward, no training), convert."""

    def apply(model: nn.Module, calib: dict) -> nn.Module:
        quantize_(model, config)
        with torch.no_grad():
            model(**calib)
        return quantize_(model, dataclasses.replace(config, step="convert"))

    return apply


# scheme -> (make it, the integer op of its projections, its fused attention op)
SCHEMES: dict[str, tuple[Callable[[nn.Module, dict], nn.Module], str, str]] = {
    "int8-dynamic": (
        lambda m, _: quantize_(m, Int8Dynamic()),
        "DynamicQuantizeMatMul",
        "QAttention",
    ),
    "int8-static": (_calibrated(Int8Static(observer="mse")), "MatMulIntegerToFloat", "QAttention"),
    "int4": (
        lambda m, _: quantize_(m, WeightOnly(bits=4, embedding_bits=0)),
        "MatMulNBits",
        "MultiHeadAttention",
    ),
    "mixed": (
        lambda m, _: quantize_(m, MixedPrecision(default_bits=4, layer_bits={EIGHT_BIT_LAYER: 8})),
        "MatMulNBits",
        "MultiHeadAttention",
    ),
    "qat-int8": (_calibrated(QAT(bits=8)), "MatMulIntegerToFloat", "QAttention"),
    "qat-int4": (_calibrated(QAT(bits=4)), "MatMulNBits", "MultiHeadAttention"),
}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_quantized_encoder_keeps_fused_attention_and_matches_pytorch(
    scheme: str, encoder: nn.Module, batches: dict, tmp_path: Path
) -> None:
    apply, integer_op, attention_op = SCHEMES[scheme]
    model = apply(copy.deepcopy(encoder), batches["calib"])
    check = batches["check"]
    path = to_onnx(model, tmp_path / "m.onnx", check)
    ops = ort_ops(path, tmp_path)
    assert ops[attention_op] == LAYERS and ops["Softmax"] == 0
    assert ops[integer_op] > 0 and ops["MatMul"] == 0  # every projection runs integer kernels
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v.numpy() for k, v in check.items()})[0]
    with torch.no_grad():
        want = model(**check).numpy()
        fp32 = encoder(**check).numpy()
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    assert np.abs(want - fp32).max() > 1e-5  # and the reference really is quantized


def test_int8_artifact_carries_the_fused_attention(encoder, batches, tmp_path) -> None:
    """The artifact path (tinyai.export -> the quantized graph pass) fuses as to_onnx does."""
    import tinyai
    from tinyai.runtime import load_artifact

    model = SCHEMES["int8-static"][0](copy.deepcopy(encoder), batches["calib"])
    path = tinyai.export(model, tmp_path / "int8", "stsb-embed")
    ops = Counter(n.op_type for n in onnx.load(str(path / "model.onnx")).graph.node)
    assert ops["QAttention"] == LAYERS and ops["MatMulIntegerToFloat"] > 0
    check = batches["check"]
    got = load_artifact(path).run({k: v.numpy() for k, v in check.items()})
    with torch.no_grad():
        want = model(**check).numpy()
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
