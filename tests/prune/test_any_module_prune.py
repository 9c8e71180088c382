"""Pruning modules users write: attention's bare in_proj_weight, tied weights, bare
parameters (a ViT's class token), all counted the same by sparsity() and summary."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import tinyai
from tinyai.errors import ConfigError
from tinyai.prune import (
    MagnitudePruning,
    PruningPlan,
    StructuredPruning,
    apply_plan,
    make_permanent,
    plan,
    prune_,
    sparsity,
)


class _ViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(6, 16)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), self.embed(x)], dim=1)
        return self.head(self.encoder(x)[:, 0])


def test_magnitude_pruning_prunes_attention_in_proj_and_both_counts_agree() -> None:
    model = _ViT().eval()
    prune_(model, MagnitudePruning(sparsity=0.75))
    make_permanent(model)
    figures = sparsity(model)
    in_proj = model.encoder.layers[0].self_attn.in_proj_weight
    assert figures["encoder.layers.0.self_attn.in_proj_weight"] == pytest.approx(0.75)
    assert int((in_proj == 0).sum()) == round(0.75 * in_proj.numel())
    table = tinyai.summary(model, (torch.randn(1, 4, 6),))
    unique = {id(p): p for p in model.parameters()}.values()
    assert table.nonzero == sum(int(torch.count_nonzero(p)) for p in unique)
    with torch.no_grad():  # eval + no grad: torch's fused path reads in_proj_weight directly
        assert torch.isfinite(model(torch.randn(2, 4, 6))).all()


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.proj = nn.Linear(8, 20, bias=False)
        self.proj.weight = self.embed.weight

    def forward(self, ids):
        return self.proj(self.embed(ids))


def test_a_tied_weight_is_pruned_once_in_both_uses_and_stays_tied() -> None:
    model = _Tied()
    prune_(model, MagnitudePruning(sparsity=0.5))
    assert list(sparsity(model)) == ["embed.weight", "__total__"]
    model(torch.zeros(1, 3, dtype=torch.long))  # the masks are applied in both uses
    torch.testing.assert_close(model.proj.weight, model.embed.weight)
    make_permanent(model)
    assert model.proj.weight is model.embed.weight
    assert sparsity(model)["__total__"] == pytest.approx(0.5)


def test_structured_pruning_slices_bare_parameters_and_the_plan_replays() -> None:
    model = _ViT().eval()
    inputs = (torch.randn(1, 4, 6),)
    the_plan = plan(model, StructuredPruning(ratio=0.5), inputs)
    replayed = apply_plan(copy.deepcopy(model), PruningPlan.from_dict(the_plan.to_dict()))
    assert replayed.cls.shape == (1, 1, 8) and replayed.embed.out_features == 8
    assert any(op.get("parameter") == "cls" for op in the_plan.ops)
    with torch.no_grad():
        assert replayed(inputs[0]).shape == (1, 3)
    forged = PruningPlan(the_plan.config, [{"module": "", "fn": "parameter",
                                            "parameter": "__class__", "dim": 0, "idxs": [0]}])
    with pytest.raises(ConfigError, match="slices parameter '__class__'"):
        apply_plan(copy.deepcopy(model), forged)
