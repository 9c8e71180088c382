"""Distillation of any teacher/student pair: intermediate features matched by module name
(learned projections where widths differ), a pruned copy as the student, and text tasks
that tokenize with their own tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tinyai.distill import DistillConfig, distill, pruned_copy
from tinyai.distill.layers import LayerLoss, LayerPair
from tinyai.errors import ConfigError
from tinyai.prune import StructuredPruning
from tinyai.tasks import get_task
from tinyai.train import TrainConfig, TrainHooks

STEPS = TrainConfig(steps=3, batch_size=8, lr=1e-2, log=False)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))


def _images() -> object:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 6, 6)).astype(np.float32)
    return get_task("array-classification", data={"train": {"x": x, "labels": rng.integers(
        0, 3, 32)}})


def test_features_of_any_layout_are_matched_through_a_learned_projection() -> None:
    task = _images()
    teacher = _Net().eval()
    student = pruned_copy(teacher, StructuredPruning(ratio=0.5), task.example_inputs(1))
    assert student.body[2].out_channels == 8 and teacher.body[2].out_channels == 16
    losses: list[float] = []
    config = DistillConfig(train=STEPS, layer_weight=1.0, feature_map=(("body.2", "body.2"),),
                           cache=False)
    distill(student, teacher, task, config, hooks=TrainHooks(
        after_step=lambda step, loss: losses.append(loss)))
    assert len(losses) == 3 and all(np.isfinite(losses))
    loss = LayerLoss([LayerPair("s", "t")], {"s": (2, 8, 6, 6)}, {"t": (2, 16, 6, 6)})
    assert loss.axes == {"0": 1} and loss.projections["0"].weight.shape == (16, 8)
    with pytest.raises(ConfigError, match="differ in more than their width"):
        LayerLoss([LayerPair("s", "t")], {"s": (2, 8, 3, 3)}, {"t": (2, 16, 6, 6)})


def test_layer_losses_on_models_that_are_not_bert_need_a_feature_map() -> None:
    config = DistillConfig(train=STEPS, layer_weight=1.0, cache=False)
    with pytest.raises(ConfigError, match=r"feature_map=\[\[student_module, teacher_module\]"):
        distill(_Net(), _Net(), _images(), config)


class _Bag(nn.Module):
    """A token-id model over the packaged tokenizer's 30522 ids, ignoring the mask."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(30522, width)
        self.out = nn.Linear(width, 2)

    def forward(self, input_ids):
        return self.out(self.embedding(input_ids))


def test_a_text_task_distils_with_its_own_tokenizer(tmp_path) -> None:
    rows = "\n".join(f"{'a fine' if i % 2 else 'a dull'} film number {i}\t{i % 2}"
                     for i in range(16))
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + rows + "\n")
    task = get_task("text-classification", data={"train": str(tmp_path / "train.tsv")},
                    max_length=16)
    torch.manual_seed(0)
    student, teacher = _Bag(4), _Bag(8).eval()
    before = student.out.weight.detach().clone()
    distill(student, teacher, task, DistillConfig(train=STEPS, cache=False))  # no tokenizer=
    assert not torch.equal(before, student.out.weight)
