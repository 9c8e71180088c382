"""Structured pruning through a concatenation (Inception/DenseNet-style), on a plain nn.Module.

Removing channel c of a conv→BN→ReLU unit must be exactly the same function as forcing that
ReLU's output channel c to zero in the original network; that holds only if every consumer of
the concatenated tensor lost the right slice at the right offset. A wrong offset still runs and
keeps the shapes, so the test compares outputs, not shapes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tinyai.prune import StructuredPruning, plan, prune_
from tinyai.prune.stats import total_params

UNITS = ("stem", "branch_a", "branch_b", "merge")


def _unit(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())


class ConcatNet(nn.Module):
    """Two conv branches of different widths, concatenated, then a conv and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _unit(1, 8, 3)
        self.branch_a = _unit(8, 12, 1)
        self.branch_b = _unit(8, 20, 3)
        self.merge = _unit(32, 16, 3)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.stem(pixel_values)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        return self.head(self.merge(x))


def _model_and_inputs() -> tuple[ConcatNet, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = ConcatNet()
    model.train()
    with torch.no_grad():  # non-trivial BN statistics, so every channel matters
        model(torch.randn(16, 1, 12, 12))
    gen = torch.Generator().manual_seed(1)
    return model.eval(), {"pixel_values": torch.randn(2, 1, 12, 12, generator=gen)}


def _zeroing_hook(removed: list[int]):
    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[:, removed] = 0
        return output

    return hook


def test_pruning_through_concat_equals_zeroing_the_removed_channels(onnx_outputs, tmp_path) -> None:
    model, inputs = _model_and_inputs()
    original, _ = _model_and_inputs()
    config = StructuredPruning(ratio=0.5, importance="l1", targets=("channels",))
    the_plan = plan(model, config, inputs)
    prune_(model, config, example_inputs=inputs)

    # Each BN is pruned once, so its op's indices are in the original numbering.
    removed = {
        op["module"].split(".")[0]: op["idxs"]
        for op in the_plan.ops
        if op["fn"] == "BatchnormPruner.prune_out_channels"
    }
    assert set(removed) == set(UNITS) and all(removed.values())
    assert (
        model.merge[0].in_channels
        == model.branch_a[0].out_channels + model.branch_b[0].out_channels
    )
    assert model.merge[0].in_channels < 32
    assert total_params(model) == the_plan.totals["params_after"]

    for unit in UNITS:
        getattr(original, unit)[2].register_forward_hook(_zeroing_hook(removed[unit]))
    with torch.no_grad():
        pruned_out, reference = model(**inputs), original(**inputs)
    torch.testing.assert_close(pruned_out, reference, rtol=1e-5, atol=1e-5)

    # And the pruned network is an ordinary module that ONNX Runtime computes identically.
    np.testing.assert_allclose(
        onnx_outputs(model, inputs, tmp_path), pruned_out.numpy(), rtol=1e-4, atol=1e-5
    )
