"""Head and FFN pruning of the real all-MiniLM-L6-v2 (Hugging Face BERT)."""

from __future__ import annotations

import torch

from tinyai.prune import StructuredPruning, plan, prune_
from tinyai.prune.stats import total_params


def test_minilm_heads_and_ffn_are_removed_and_round_trip(tmp_path) -> None:
    from tinyai.models import TextClassifier, load_encoder, load_tokenizer

    torch.manual_seed(0)
    model = TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean").eval()
    tokenizer = load_tokenizer("minilm-l6")
    enc = tokenizer(
        ["a gripping, beautifully acted film", "dull and far too long"],
        padding=True,
        return_tensors="pt",
    )
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    params_before = total_params(model)
    config = StructuredPruning(ratio=0.25, importance="l1", targets=("heads", "ffn"))

    dry = plan(model, config, inputs)
    assert sum("num_attention_heads=9" in r.removed for r in dry.layers) == 6
    prune_(model, config, example_inputs=inputs)
    layers = model.encoder.encoder.layer
    for layer in layers:
        assert layer.attention.self.query.out_features == 9 * 32
        assert layer.attention.self.num_attention_heads == 9
        assert layer.intermediate.dense.out_features == 1152
    # Embeddings stay; every block loses a quarter of its attention and FFN weights.
    removed = params_before - total_params(model)
    assert removed == dry.totals["params_before"] - dry.totals["params_after"]
    assert removed == 6 * (4 * 96 * 384 + 3 * 96 + 2 * 384 * 384 + 384)

    with torch.no_grad():
        logits = model(**inputs)
    from tinyai.models import load_model, save_model

    loaded = load_model(save_model(model, tmp_path / "minilm-pruned", tokenizer=tokenizer))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs), logits)
