"""The int8 GEMM bound counts every integer product a static int8 encoder runs, including the
Q/K/V product inside QAttention (as one GEMM over the three weights side by side); a model
that quantizes its activations at run time has no such bound and is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from benchmarks.gemm_bound import GemmBound

from tinyai.quantize import Int8Dynamic, Int8Static, quantize_, to_onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from attention_cases import tiny_bert

LAYERS, HIDDEN = 2, 64


def test_bound_holds_each_layers_qkv_product_and_its_three_other_products(tmp_path) -> None:
    from tinyai.models import SentenceEncoder

    model = quantize_(SentenceEncoder(tiny_bert(LAYERS, hidden=HIDDEN)).eval(), Int8Static())
    ids = torch.randint(5, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        model(**batch)
    model = quantize_(model, Int8Static(step="convert"))
    bound = GemmBound(to_onnx(model, tmp_path / "m.onnx", batch))

    assert bound.nodes == 4 * LAYERS  # QKV (from QAttention), attention output, FFN in, out
    mask = batch["attention_mask"].numpy()
    assert bound(ids.numpy(), mask).shape == (2, 7, HIDDEN)  # the last product: FFN out
    products = bound.session.run(None, bound._feeds[(2, 7)])
    widths = sorted(p.shape[-1] for p in products)
    assert widths == sorted([3 * HIDDEN, HIDDEN, 2 * HIDDEN, HIDDEN] * LAYERS)
    assert all(np.isfinite(p).all() for p in products)


def test_a_dynamic_int8_model_is_refused(tmp_path) -> None:
    from tinyai.models import SentenceEncoder

    model = quantize_(SentenceEncoder(tiny_bert(LAYERS, hidden=HIDDEN)).eval(), Int8Dynamic())
    ids = torch.randint(5, 100, (1, 4), generator=torch.Generator().manual_seed(0))
    path = to_onnx(
        model, tmp_path / "m.onnx", {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    )
    with pytest.raises(ValueError, match="not a static int8 model"):
        GemmBound(path)
