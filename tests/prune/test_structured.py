"""Structured pruning over the architecture table: plan, apply, run, shrink, export, save."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tinyai.prune import (
    PruningPlan,
    StructuredPruning,
    apply_plan,
    plan,
    prune_,
)
from tinyai.prune.stats import total_params


def _config(arch: str, importance: str = "l2") -> StructuredPruning:
    targets = ("heads", "ffn") if arch == "bert" else ("channels", "neurons")
    return StructuredPruning(ratio=0.5, importance=importance, targets=targets)


def test_plan_is_a_dry_run_and_apply_matches_it(arch: str, build, run, tmp_path) -> None:
    model, inputs = build(arch)
    before = copy.deepcopy(model.state_dict())
    the_plan = plan(model, _config(arch), inputs)
    # The dry run leaves the model untouched...
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert the_plan.totals["params_after"] < the_plan.totals["params_before"]
    assert "TOTAL" in str(the_plan) and the_plan.to_markdown().startswith("| layer")
    reference_shape = run(model, inputs).shape
    # ...and applying it gives exactly the parameter count the plan promised.
    apply_plan(model, the_plan)
    assert total_params(model) == the_plan.totals["params_after"]
    assert run(model, inputs).shape == reference_shape
    # The plan is JSON and replays the same structure on a fresh model.
    the_plan.save(tmp_path / "plan.json")
    fresh, _ = build(arch)
    apply_plan(fresh, PruningPlan.load(tmp_path / "plan.json"))
    assert [p.shape for p in fresh.parameters()] == [p.shape for p in model.parameters()]


def test_default_targets_are_what_the_model_has(arch: str, build) -> None:
    # One default for the library, the CLI and recipes: heads/FFN of encoders, else widths.
    model, inputs = build(arch)
    implicit = plan(model, StructuredPruning(ratio=0.5), inputs)
    explicit = plan(model, _config(arch), inputs)
    assert implicit.table_rows() == explicit.table_rows()
    assert implicit.totals == explicit.totals


def test_pruned_model_trains_exports_and_round_trips(
    arch: str, build, run, onnx_outputs, tmp_path
) -> None:
    model, inputs = build(arch)
    params_before = total_params(model)
    prune_(model, _config(arch), example_inputs=inputs)
    assert total_params(model) < 0.75 * params_before

    # It is an ordinary module: one optimizer step works.
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model(**inputs).float().pow(2).mean().backward()
    optimizer.step()
    model.eval()

    # ONNX Runtime computes what PyTorch computes.
    np.testing.assert_allclose(
        onnx_outputs(model, inputs, tmp_path), run(model, inputs).numpy(), rtol=1e-4, atol=1e-5
    )

    # Saved as plan + state dict; loading rebuilds the base model and replays the plan.
    from tinyai.models import load_model, save_model

    loaded = load_model(save_model(model, tmp_path / "saved"))
    torch.testing.assert_close(run(loaded, inputs), run(model, inputs))


def test_taylor_importance_needs_and_uses_a_loss(build) -> None:
    from tinyai.errors import ConfigError

    model, inputs = build("cnn-res-dw")
    with pytest.raises(ConfigError, match="loss_fn"):
        plan(model, _config("cnn-res-dw", "taylor"), inputs)
    loss = lambda m: m(**inputs).logsumexp(-1).mean()  # noqa: E731
    taylor = plan(model, _config("cnn-res-dw", "taylor"), inputs, loss_fn=loss)
    l1 = plan(model, _config("cnn-res-dw", "l1"), inputs)
    assert taylor.totals["params_after"] == l1.totals["params_after"]
    assert taylor.ops != l1.ops  # a different ranking removes different channels
    assert all(p.grad is None for p in model.parameters())  # gradients were taken on a copy


def test_residual_and_depthwise_widths_stay_consistent(build) -> None:
    model, inputs = build("cnn-res-dw")
    prune_(model, StructuredPruning(ratio=0.5), example_inputs=inputs)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.groups > 1:
            assert m.groups == m.in_channels == m.out_channels  # still depthwise
    stage = model.features[1]
    # The residual addition forces the block's output width to match its input width.
    assert stage[1].body[-1].num_features == stage[0][-2].num_features


def test_output_layer_is_never_pruned(build) -> None:
    model, inputs = build("mlp")
    the_plan = plan(model, StructuredPruning(ratio=0.9), inputs)
    assert not any(op["module"] == "layers.5" and "out" in op["fn"] for op in the_plan.ops)
