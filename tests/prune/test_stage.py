"""Pruning as recipe stages, reached through the registry with a real task."""

from __future__ import annotations

import pytest

from tinyai import registry
from tinyai.config import Config
from tinyai.prune import AGPSchedule, MagnitudePruning, StructuredPruning, masks, sparsity
from tinyai.prune.stats import total_params


def test_registered_and_configs_round_trip() -> None:
    assert registry.get("magnitude-pruning").config_cls is MagnitudePruning
    assert registry.get("structured-pruning").config_cls is StructuredPruning
    config = StructuredPruning(ratio=0.3, importance="taylor", targets=("heads",))
    assert Config.from_json(config.to_json()) == config


def test_stages_prune_with_the_tasks_data() -> None:
    from tinyai.models import LeNet300100, LeNet300100Config
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    ctx = registry.StageContext(task=task, extras={"steps": 10, "lr": 1e-3})
    model = LeNet300100(LeNet300100Config(hidden=(32, 16)))
    scheduled = MagnitudePruning(
        sparsity=0.7, scope="global", schedule=AGPSchedule(end_step=8, frequency=2)
    )
    model = registry.apply(model, scheduled, ctx)
    assert not masks(model)  # the schedule finished inside the stage: zeros are permanent
    assert sparsity(model)["__total__"] == pytest.approx(0.7, abs=1e-3)

    before = total_params(model)
    model = registry.apply(model, StructuredPruning(ratio=0.5, importance="taylor"), ctx)
    assert total_params(model) < 0.6 * before
