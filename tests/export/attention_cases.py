"""Helpers shared by the fused-attention tests (tests/export and tests/quantize)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort
from torch import nn


def ort_ops(model: onnx.ModelProto | str | Path, tmp_path: Path) -> Counter:
    """Op counts of the graph onnxruntime runs after its own optimizations."""
    path = tmp_path / "input.onnx"
    if isinstance(model, onnx.ModelProto):
        onnx.save(model, str(path))
    else:
        path = Path(model)
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)


def tiny_bert(layers: int = 2, heads: int = 4, hidden: int = 64) -> nn.Module:
    """An untrained BertModel small enough for a test, with MiniLM's vocabulary."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    return BertModel(config).eval()
