"""What the runner hands a stage: the metric a stage may choose by comes from training data,
never from the held-out split the run reports."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import tinyai
from tinyai.measure.evaluate import evaluate
from tinyai.recipe.stages import selection_metric, training_sample
from tinyai.tasks import get_task

X = np.random.default_rng(0).standard_normal((3000, 4)).astype(np.float32)


def _always_class_0() -> nn.Module:
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0]))
    return model


class SignOfFirst(nn.Module):
    """Class 1 where x[0] > 0."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 2)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.weight[:, 0] = torch.tensor([-8.0, 8.0])
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def _task():
    """Every training label is 0, every held-out label 1."""
    return get_task("array-classification", data={
        "train": {"x": X, "labels": np.zeros(len(X), np.int64)},
        "test": {"x": X[:100], "labels": np.ones(100, np.int64)}})


def test_the_selection_metric_scores_training_examples_only() -> None:
    # A model that always answers 0 is perfect by the selection metric and wrong on every
    # example the run reports.
    task = _task()
    model = _always_class_0()
    assert selection_metric(task, seed=0)(model) == 1.0
    assert evaluate(model, task)["metrics"]["accuracy"] == 0.0


def test_the_training_sample_is_seeded_sorted_and_bounded() -> None:
    task = _task()
    sample = training_sample(task, 2048, seed=3)
    assert len(sample) == 2048 and len(set(sample.tolist())) == 2048
    assert np.all(np.diff(sample) > 0) and sample[-1] < len(X)
    np.testing.assert_array_equal(sample, training_sample(task, 2048, seed=3))
    assert not np.array_equal(sample, training_sample(task, 2048, seed=4))
    assert len(training_sample(task, 10_000, seed=0)) == len(X)


def test_a_mixed_precision_stage_chooses_its_bits_on_training_data(tmp_path) -> None:
    # Training labels are the sign of x[0], held-out labels its opposite; the model reads the
    # sign: perfect on training data, wrong on every example the run reports.
    x = np.random.default_rng(1).standard_normal((600, 64)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, labels=(x[:, 0] > 0).astype(np.int64))
    np.savez(tmp_path / "test.npz", x=x[:50], labels=(x[:50, 0] <= 0).astype(np.int64))
    model = SignOfFirst()
    recipe = {"version": 1, "name": "mixed", "teacher": {"given": True},
              "task": {"data": {"train": str(tmp_path / "train.npz"),
                                "test": str(tmp_path / "test.npz")}},
              "stages": [{"mixed-precision": {"budget_bytes": 3000, "choices": [8, 4]}}],
              "measure": {"latency": False, "every_stage": False, "teacher": False}}
    metrics = tinyai.compress(recipe, tmp_path / "run", teacher=model)
    sensitivity = metrics.stages[-1].sensitivity
    assert sensitivity is not None and sensitivity.curves
    scores = [y for curve in sensitivity.curves.values() for _, y in curve]
    assert scores == [1.0] * len(scores)  # the reported split would have given 0 at every width
    final = metrics.final()
    assert final is not None and final.measure is not None and final.measure.metric == 0.0
