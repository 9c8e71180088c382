"""Lottery tickets and sensitivity analysis on a real Fashion-MNIST slice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tinyai.prune import (
    LotteryConfig,
    MagnitudePruning,
    SensitivityTable,
    allocate_sparsity,
    lottery_ticket,
    masks,
    prune_,
    sensitivity,
    sparsity,
)
from tinyai.prune.lottery import random_reinit


@pytest.fixture(scope="module")
def fashion():
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    train = next(iter(task.batches(task.dataset("train").subset(np.arange(1024)), 1024)))
    test = next(iter(task.batches(task.dataset("test").subset(np.arange(500)), 500)))
    return train, test


def _model() -> nn.Module:
    from tinyai.models import LeNet300100, LeNet300100Config

    return LeNet300100(LeNet300100Config(hidden=(64, 32)))


def _accuracy(model: nn.Module, batch: dict) -> float:
    with torch.no_grad():
        model.eval()
        return float(
            (model(pixel_values=batch["pixel_values"]).argmax(-1) == batch["labels"]).float().mean()
        )


def _train_fn(fashion):
    train, test = fashion

    def train_fn(model: nn.Module, on_step) -> float:
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        model.train()
        for step in range(24):
            on_step(step)
            rows = slice((step % 8) * 128, (step % 8 + 1) * 128)
            optimizer.zero_grad()
            logits = model(pixel_values=train["pixel_values"][rows])
            nn.functional.cross_entropy(logits, train["labels"][rows]).backward()
            optimizer.step()
        return _accuracy(model, test)

    return train_fn


def test_lottery_ticket_prunes_iteratively_and_rewinds(fashion) -> None:
    torch.manual_seed(0)
    config = LotteryConfig(rounds=3, prune_per_round=0.5, rewind_step=5)
    result = lottery_ticket(_model, _train_fn(fashion), config)
    assert [r.round for r in result.rounds] == [0, 1, 2, 3]
    for r in result.rounds[1:]:
        assert r.sparsity == pytest.approx(config.sparsity_after(r.round - 1), abs=1e-3)
    assert result.rounds[-1].metric > 0.5  # 12.5% of the weights still learn the task
    assert all(
        float(m.mean()) == pytest.approx(0.125, abs=1e-3)
        for m in [torch.cat([v.flatten() for v in result.masks.values()])]
    )
    # The rewind state is the dense net after 5 optimizer steps, not the initialisation.
    assert set(result.rewind_state) >= {"layers.1.weight"}

    control = random_reinit(_model, result.masks, seed=7)
    assert sparsity(control)["__total__"] == pytest.approx(0.875, abs=1e-3)
    held = masks(control)
    assert all(torch.equal(held[k], result.masks[k]) for k in result.masks)


def test_sensitivity_table_plot_and_allocation(fashion, tmp_path) -> None:
    train, test = fashion
    model = _model()
    _train_fn((train, test))(model, lambda step: None)
    table = sensitivity(
        model,
        lambda m: _accuracy(m, test),
        layers=["layers.1.weight", "layers.3.weight"],
        sparsities=(0.5, 0.9, 0.99),
    )
    assert set(table.metrics) == {"layers.1.weight", "layers.3.weight"}
    assert all(len(v) == 3 for v in table.metrics.values())
    # Each layer was restored after its sweep: the model still scores the baseline.
    assert _accuracy(model, test) == pytest.approx(table.baseline)
    assert "| layers.1.weight |" in table.to_markdown()
    assert SensitivityTable.from_json(table.to_json()) == table
    record = table.to_record()
    assert record.x_label == "sparsity"
    assert record.curves["layers.1.weight"][0] == [0.5, table.metrics["layers.1.weight"][0]]

    alloc = allocate_sparsity(table, target=0.8)
    sizes = table.sizes
    weighted = sum(alloc[n] * sizes[n] for n in alloc) / sum(sizes.values())
    assert weighted == pytest.approx(0.8, abs=1e-6)
    prune_(model, MagnitudePruning(sparsity=0.8, layer_sparsity=alloc, include=tuple(alloc)))
    s = sparsity(model, include=tuple(alloc))
    assert s["__total__"] == pytest.approx(0.8, abs=1e-2)
