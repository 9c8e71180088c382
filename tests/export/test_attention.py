"""Attention exported as one fused kernel (tinyai.export.attention), checked in ONNX Runtime.

Every check looks at the graph ONNX Runtime really runs (its optimized model, written out with
`optimized_model_filepath`) and compares the outputs with PyTorch on real SST-2 dev sentences
of different lengths, padded in one batch.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from attention_cases import ort_ops, tiny_bert
from torch import nn

import tinyai
from tinyai.export import attention
from tinyai.export.config import ExportConfig
from tinyai.export.onnx_export import choose_exporter, export_graph

FP32_TOLERANCE = 1e-4


def export_float_onnx(model: nn.Module, inputs: dict[str, torch.Tensor]) -> onnx.ModelProto:
    """`model`'s graph through tinyai's one export path (its batch/sequence axes free)."""
    return export_graph(model, inputs, "output", "sentence-embedding", ExportConfig()).proto


def run_onnx(model: onnx.ModelProto | str | Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


@pytest.fixture(scope="module")
def sentences() -> dict[str, torch.Tensor]:
    """Eight SST-2 dev sentences (5 to 40-odd tokens) in one padded batch."""
    from tinyai.data import load_glue
    from tinyai.models import load_tokenizer

    texts = list(load_glue("sst2", "dev").texts[:8])
    enc = load_tokenizer("minilm-l6")(texts, padding=True, return_tensors="pt")
    assert (enc["attention_mask"] == 0).any()  # padding really is in the batch
    return {k: enc[k] for k in ("input_ids", "attention_mask")}


# --- the translation on plain SDPA calls: what fuses, what keeps the stock decomposition ---


class SdpaBlock(nn.Module):
    """Embedding -> Q/K/V -> SDPA with one kind of mask -> output projection, mean-pooled."""

    def __init__(self, mask: str, heads: int = 4, kv_heads: int = 4, head_size: int = 8) -> None:
        super().__init__()
        self.mask, self.heads, self.kv_heads, self.d = mask, heads, kv_heads, head_size
        width = heads * head_size
        self.emb = nn.Embedding(100, width)
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * kv_heads * head_size)
        self.out = nn.Linear(width, width)

    def _split(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], heads, self.d).transpose(1, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.emb(input_ids)
        k, v = self.kv(h).chunk(2, dim=-1)
        q = self._split(self.q(h), self.heads)
        k, v = self._split(k, self.kv_heads), self._split(v, self.kv_heads)
        keep = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, T]
        length = input_ids.shape[1]
        additive = torch.zeros(keep.shape).masked_fill(~keep, -1e4)
        masks = {
            "none": None,
            "key-padding": keep,
            "bool-full": keep.expand(-1, 1, length, -1),
            "float-full": additive.expand(-1, 1, length, -1),
            "bool-2d": torch.ones(length, length, dtype=torch.bool).tril(),
            "causal": None,
        }
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=masks[self.mask], is_causal=self.mask == "causal",
            enable_gqa=self.kv_heads != self.heads,
        )  # fmt: skip
        o = self.out(o.transpose(1, 2).reshape(h.shape))
        weights = attention_mask.unsqueeze(-1).float()
        return (o * weights).sum(1) / weights.sum(1)


SDPA_ROWS = [  # (mask, kv heads, fused?)
    ("none", 4, True),
    ("key-padding", 4, True),  # -> key_padding_mask
    ("bool-full", 4, True),  # -> attention_bias
    ("float-full", 4, True),  # -> attention_bias
    ("bool-2d", 4, False),  # a mask ORT's attention_bias cannot broadcast
    ("causal", 4, False),
    ("key-padding", 2, False),  # grouped-query attention
]


@pytest.mark.parametrize(("mask", "kv_heads", "fused"), SDPA_ROWS)
def test_sdpa_fuses_when_multihead_attention_computes_it_exactly(
    mask: str, kv_heads: int, fused: bool, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = SdpaBlock(mask, kv_heads=kv_heads).eval()
    ids = torch.randint(1, 100, (3, 11), generator=torch.Generator().manual_seed(0))
    padding = torch.ones_like(ids)
    padding[1, 6:] = 0
    padding[2, 9:] = 0
    proto = export_float_onnx(model, {"input_ids": ids, "attention_mask": padding})
    ops = ort_ops(proto, tmp_path)
    assert ops["MultiHeadAttention"] == (1 if fused else 0)
    assert (ops["Softmax"] == 0) == fused  # no leftover softmax when fused
    if fused:  # the heads' split after the fused node and the caller's merge are both gone;
        # what is left flattens a key-padding mask to [B, T]
        assert ops["Reshape"] == int(mask == "key-padding")
    with torch.no_grad():
        want = model(ids, padding).numpy()
    got = run_onnx(proto, {"input_ids": ids, "attention_mask": padding})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_unfused_exports_the_stock_decomposition(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SdpaBlock("key-padding").eval()
    ids = torch.randint(1, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    with attention.unfused():
        proto = export_float_onnx(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    ops = ort_ops(proto, tmp_path)
    assert ops["MultiHeadAttention"] == 0 and ops["Softmax"] == 1
    assert attention.fusion_enabled()  # switched back on after the block


def test_the_attention_translation_does_not_force_dynamo_on_recurrent_models() -> None:
    from tinyai.export import extensions

    assert extensions.translation_table()  # the built-in fused attention is registered
    gru = nn.Sequential(nn.GRU(4, 4, batch_first=True))
    assert choose_exporter(gru, "auto") == "torchscript"


# --- BERT-style encoders in tinyai's heads, exported as artifacts ---


def _classifier() -> nn.Module:
    from tinyai.models import TextClassifier

    return TextClassifier(tiny_bert(), 2)


def _embedder() -> nn.Module:
    from tinyai.models import SentenceEncoder

    return SentenceEncoder(tiny_bert())


def _hf_classifier() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    from tinyai.models import HFSequenceClassifier

    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, num_labels=2)  # fmt: skip
    torch.manual_seed(0)
    return HFSequenceClassifier(BertForSequenceClassification(config).eval())


def _student() -> nn.Module:
    """Fewer layers, half the width (so half the heads), from a 4-head teacher."""
    from tinyai.distill import StudentSpec, build_student

    return build_student(_classifier(), StudentSpec(layers=(1,), hidden_size=32))


def _eager_embedder() -> nn.Module:
    """Set to eager attention, as distillation with attention-map losses leaves a model."""
    from tinyai.distill import use_eager_attention

    model = _embedder()
    use_eager_attention(model)
    return model


HEADS = {  # name -> (build, task, attention layers)
    "text-classifier": (_classifier, "sst2", 2),
    "sentence-encoder": (_embedder, "stsb-embed", 2),
    "hf-sequence-classifier": (_hf_classifier, "sst2", 2),
    "student": (_student, "sst2", 1),
    "eager-encoder": (_eager_embedder, "stsb-embed", 2),
}


@pytest.mark.parametrize("name", list(HEADS))
def test_encoder_artifact_runs_fused_attention_and_matches_pytorch(
    name: str, sentences: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    from tinyai.runtime import load_artifact

    build, task, layers = HEADS[name]
    model = build().eval()
    implementation = model.encoder.config._attn_implementation
    path = tinyai.export(model, tmp_path / name, task)
    assert model.encoder.config._attn_implementation == implementation  # restored after export
    ops = ort_ops(path / "model.onnx", tmp_path)
    assert ops["MultiHeadAttention"] == layers and ops["Softmax"] == 0
    with torch.no_grad():
        want = model(**sentences).numpy()
    got = load_artifact(path).run({k: v.numpy() for k, v in sentences.items()})
    np.testing.assert_allclose(got, want, atol=FP32_TOLERANCE, rtol=0)


def test_minilm_artifact_runs_one_fused_attention_per_layer(tmp_path: Path) -> None:
    from artifact_cases import artifact  # the session's MiniLM SST-2 artifact, shared

    model, _task, path = artifact("minilm-sst2")
    layers = len(model.encoder.encoder.layer)
    ops = ort_ops(path / "model.onnx", tmp_path)
    assert ops["MultiHeadAttention"] == layers == 6 and ops["Softmax"] == 0


def test_real_minilm_layers_match_pytorch_on_padded_sentences(
    sentences: dict[str, torch.Tensor],
) -> None:
    from tinyai.models import load_model

    model = load_model("minilm-l6").eval()
    model.encoder.encoder.layer = model.encoder.encoder.layer[:2]  # real weights, 2 layers
    proto = export_float_onnx(copy.deepcopy(model), sentences)
    with torch.no_grad():
        want = model(**sentences).numpy()
    np.testing.assert_allclose(run_onnx(proto, sentences), want, atol=FP32_TOLERANCE, rtol=0)
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops["MultiHeadAttention"] == 2
    assert ops["Reshape"] == 1  # the mask's; no split-and-merge of the heads per layer
