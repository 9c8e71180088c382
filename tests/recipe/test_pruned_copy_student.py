"""A recipe distils any teacher into a narrower copy of itself (student: {pruned_copy: ...})."""

from __future__ import annotations

from tinyai.models import load_model
from tinyai.recipe import runner
from tinyai.recipe.schema import parse_recipe


def test_a_recipe_distils_into_a_pruned_copy_of_its_teacher(tmp_path) -> None:
    recipe = parse_recipe({
        "version": 1,
        "task": {"name": "fashion-mnist", "limit": {"train": 256, "test": 64}},
        "teacher": {"arch": "lenet5", "config": {"channels": [8, 16], "hidden": 32}},
        "student": {"pruned_copy": {"ratio": 0.5, "importance": "taylor"}},
        "stages": [{"finetune": {}, "train": {"steps": 8, "lr": 3e-3, "log": False}},
                   {"distill": {"temperature": 2.0}, "train": {"steps": 4, "log": False}}],
        "measure": {"latency": False},
    })
    metrics = runner.run_recipe(recipe, tmp_path / "run")
    teacher, student = metrics.stages[1], metrics.stages[2]
    assert student.technique == "distill" and student.measure is not None
    assert student.measure.params < 0.6 * teacher.measure.params
    saved = load_model(tmp_path / "run" / student.model_dir)  # the narrower copy round-trips
    assert sum(p.numel() for p in saved.parameters()) == student.measure.params
    assert student.measure.metric is not None and len(student.train_losses) == 4
